"""Checked-in histories of demo runs must replay against today's workflow code.

A change to workflow code that would break runs in flight fails here; guard such a
change with ``workflow.patched`` instead of re-recording the histories.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from mandate.converter import mandate_data_converter
from mandate.worker.agents import discover, replayable_workflows

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _replayer() -> Replayer:
    return Replayer(workflows=replayable_workflows(discover().workflows), data_converter=mandate_data_converter)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_run_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_histories_are_checked_in():
    assert {p.stem for p in HISTORIES} >= {
        "refund-approved",
        "refund-rejected",
        "refund-killed-rolled-back",
        "refund-escalated",
        "refund-approved-coalesced",
        "refund-protocol-2",
        "refund-protocol-3",
        "support-manipulated",
        "refund-signed-killed",
        "monitor-paused-resumed",
        "refund-protocol-5-fleet-killed",
        "monitor-fleet-orders-once",
        "monitor-carried-pause",
    }


async def test_a_model_driven_run_replays_without_calling_its_model():
    """The support agent's recorded run: every model call is an activity in the history, so today's code
    reproduces the run (the blocked deletion, the governed notice, the model's answer) and asks no model."""
    from mandate.model_calls import scripted_factory, scripted_model
    from mandate.review.replay import replay_history
    from mandate.run import StepStatus

    path = Path(__file__).parent / "histories" / "support-manipulated.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    real = scripted_factory("scripted:support")
    assert real is not None
    asked: list[str] = []
    scripted_model("support")(lambda: asked.append("built") or real())  # any model call would build it first
    try:
        outcome = await replay_history(history, replayable_workflows(discover().workflows))
    finally:
        scripted_model("support")(real)
    assert outcome.reproduced, outcome.failure
    assert asked == []
    assert outcome.mandate is not None and outcome.mandate.charter.model is not None
    assert outcome.mandate.charter.model.model == "scripted:support"  # the model the run used, as recorded
    status = outcome.status
    assert status is not None and status.outcome == "answered" and status.violations == 1
    assert [(s.tool, s.status) for s in status.steps] == [
        ("lookup_order", StepStatus.COMPLETED),
        ("delete_customer", StepStatus.BLOCKED),
        ("check_refund_policy", StepStatus.COMPLETED),
        ("notify_customer", StepStatus.COMPLETED),
    ]
    assert status.cost > 0.001 + 0.002 + 0.005  # the tools' costs and the model's tokens


async def test_a_tampered_history_is_caught(tmp_path: Path):
    """Swap the tool a recorded run scheduled: today's code proposes another, and replay must say so."""
    data = json.loads((Path(__file__).parent / "histories" / "refund-approved.json").read_text())
    for event in data["events"]:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if attrs and attrs["activityType"]["name"] == "check_refund_policy":
            attrs["activityType"]["name"] = "delete_customer"
            break
    else:
        raise AssertionError("the recorded run has no check_refund_policy step")
    history = WorkflowHistory.from_json("tampered", json.dumps(data))
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
