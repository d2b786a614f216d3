"""Floods by anyone who can reach the Temporal frontend (finding 8 of the signed-authority issue).

Each stack is a real dev server with the limits `mandate dev` and the compose stack set
(``mandate.worker.dev_server.SERVER_LIMITS``), a real `mandate worker` process and the CLI. The flood
comes through a plain client, as the stock `temporal` CLI or the Web UI would send it.

It used to be that 28 signals of 1.9 MB got a run terminated by its history size limit with an approved
refund left standing, and that a run whose signal allowance junk had used up could not be killed: the
monitor retried without end and the CLI printed a traceback.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from mandate import api
from mandate.run import AgentRunInput, RunState
from mandate.worker.dev_server import SERVER_LIMITS
from tests.helpers import signed_start
from tests.reliability._harness import AGENT, BOB, RAJ, SAM, Stack

JUNK = "x" * 500_000  # under the 512 KiB payload limit: as large as a flood can send


async def _flood(st: Stack, workflow_id: str) -> int:
    """Junk ``approve`` signals until the server refuses more; how many it took."""
    handle = (await st.client()).get_workflow_handle(workflow_id)
    for sent in range(SERVER_LIMITS["history.maximumSignalsPerExecution"] + 1):
        try:
            await handle.signal("approve", JUNK)
        except RPCError as err:
            assert "exceeded workflow execution limit for signal events" in err.message, err
            return sent
    raise AssertionError("the server took more signals than its limit")


async def _approved_and_waiting_again(st: Stack, order_id: int) -> str:
    """A run whose refund is approved and issued, now waiting for its customer notice to be approved."""
    workflow_id = await st.start_run(order_id)
    await st.wait_pending(workflow_id, "issue_refund")
    approved = await st.acli("approve", workflow_id, "--as", RAJ, "--request", "r1", "--reason", "photos")
    assert approved.ok, approved
    await st.wait_pending(workflow_id, "notify_customer")
    assert [(o, s) for o, s, _ in st.refunds()] == [(order_id, "issued")]
    return workflow_id


async def test_a_flood_of_signals_neither_ends_a_run_nor_keeps_its_kill_out(tmp_path: Path) -> None:
    st = Stack(tmp_path)
    try:
        await st.start_server()
        await st.start_worker()
        workflow_id = await _approved_and_waiting_again(st, 1001)
        handle = (await st.client()).get_workflow_handle(workflow_id)

        with pytest.raises(RPCError, match="Blob data size exceeds limit"):
            await handle.signal("approve", "x" * 1_900_000)  # one of the 1.9 MB signals of the finding
        sent = await _flood(st, workflow_id)
        assert 0 < sent <= SERVER_LIMITS["history.maximumSignalsPerExecution"]

        description = await handle.describe()
        assert description.status is WorkflowExecutionStatus.RUNNING, "the flood ended the run"
        history_bytes = description.raw_description.workflow_execution_info.history_size_bytes
        assert history_bytes < SERVER_LIMITS["limit.historySize.error"] * 0.75, history_bytes
        status = await st.status(workflow_id)
        assert status.state is RunState.WAITING_APPROVAL and [r.tool for r in status.pending] == ["notify_customer"]
        assert status.refused and all(r.kind == "approve" for r in status.refused)  # recorded, not obeyed

        # The run takes no more signals, but the stop/go owner's kill still reaches it (as an update).
        killed = await st.acli(
            "kill", AGENT, "--workflow", workflow_id, "--rollback", "--as", SAM, "--reason", "flooded"
        )
        assert killed.ok, killed
        assert "1 running run(s) told to stop" in killed.stdout and workflow_id in killed.stdout, killed
        result = await st.result(workflow_id)
        assert result.state is RunState.ROLLED_BACK, result
        assert [(o, s) for o, s, _ in st.refunds()] == [(1001, "reversed")]
    finally:
        st.close()


async def test_a_run_no_kill_can_reach_is_named_in_one_line_and_the_monitor_goes_on(tmp_path: Path) -> None:
    st = Stack(tmp_path)
    try:
        await st.start_server()
        await st.start_worker()
        # A run no Mandate worker serves (its queue is polled by nobody), flooded: its signals are used up
        # and an update would wait for a worker that never comes. The monitor names it and goes on.
        client = await st.client()
        cut_off, payload = f"{AGENT}-{uuid.uuid4().hex[:12]}", {"order_id": 1001, "reason": "arrived damaged"}
        await client.start_workflow(
            "RefundAgent",
            AgentRunInput(input=payload, requested_by=BOB, start=signed_start(client.namespace, AGENT, cut_off, payload, BOB)),
            id=cut_off,
            task_queue="nobody-polls-this",
        )
        await _flood(st, cut_off)

        refused = await st.acli("kill", AGENT, "--workflow", cut_off, "--as", SAM, "--reason", "flooded")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused
        (line,) = refused.stderr.strip().splitlines()
        # Not a run on Mandate's queue, so not one of the agent's: named, and nothing signed is sent to it
        # (the monitor signs a kill for each run it stops, and hands none to a run that is not Mandate's).
        assert line.startswith(f"error: not reached: {cut_off}: not a running RefundAgent run on task queue 'mandate'"), line

        # The monitor was not held up: the next kill, of another run, goes through.
        other = await st.start_run(1002)
        await st.wait_pending(other, "issue_refund")
        killed = await st.acli("kill", AGENT, "--workflow", other, "--as", SAM, "--reason", "unrelated")
        assert killed.ok, killed
        assert (await st.result(other)).state is RunState.KILLED

        kept = {d.workflow: d.unreachable for d in await api.kill_decisions(client, AGENT)}
        assert kept[other] == [] and kept[cut_off][0].startswith(f"{cut_off}: not a running"), kept
    finally:
        st.close()
