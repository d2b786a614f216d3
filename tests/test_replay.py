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
    }


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
