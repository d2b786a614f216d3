"""Fleet orders count once and in order, and a run takes only a kill bound to it (issue 16, item 3).

Anyone who can read histories (every Web UI user) can copy the stop/go owner's signed ``mandate kill``
out of the monitor's history, and the kill each run received out of that run's history, and send them
again. One real dev server, one real `mandate worker` process, the CLI; the attacker uses a plain client,
as the stock `temporal` CLI or the Web UI would.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError

from mandate.contract import monitor_id
from mandate.signer import Signer
from tests.reliability._harness import AGENT, RAJ, SAM, Stack, eventually


async def _inputs(client: Client, workflow_id: str, name: str) -> list[dict[str, Any]]:
    """Every input of a ``name`` update or signal in the run's history, as its sender wrote it."""
    found = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == name:
                found += [json.loads(p.data) for p in request.input.args.payloads]
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            if attrs.signal_name == name:
                found += [json.loads(p.data) for p in attrs.input.payloads]
    return found


async def _approved(st: Stack, order_id: int) -> str:
    workflow_id = await st.start_run(order_id)
    await st.wait_pending(workflow_id, "issue_refund")
    approved = await st.acli("approve", workflow_id, "--as", RAJ, "--reason", "photos")
    assert approved.ok, approved
    await st.wait_pending(workflow_id, "notify_customer")
    return workflow_id


async def _refused(st: Stack, workflow_id: str, count: int) -> list[str]:
    async def probe() -> list[str] | None:
        reasons = [r.reason for r in (await st.status(workflow_id)).refused if r.kind == "kill"]
        return reasons if len(reasons) >= count else None

    return await eventually(probe, timeout=60, what=f"{count} kill(s) refused by {workflow_id}")


async def test_a_copied_kill_or_resume_counts_for_nothing(tmp_path: Path) -> None:
    st = Stack(tmp_path)
    try:
        await st.start_server()
        await st.start_worker()
        client = await st.client()
        first = await _approved(st, 1001)
        killed = await st.acli("kill", AGENT, "--rollback", "--as", SAM, "--reason", "refunds look wrong")
        assert killed.ok, killed
        assert (await st.result(first)).outcome == "rolled_back"
        resumed = await st.acli("resume", AGENT, "--as", SAM, "--reason", "fixed")
        assert resumed.ok, resumed

        # A run started after the resume, its refund issued.
        later = await _approved(st, 1002)
        monitor = client.get_workflow_handle(monitor_id(AGENT))
        [owners_kill] = await _inputs(client, monitor.id, "kill")
        [owners_resume] = await _inputs(client, monitor.id, "resume")
        [runs_kill] = await _inputs(client, first, "kill")  # what the monitor sent the first run
        assert runs_kill["statement"]["workflow_id"] == first and runs_kill["statement"]["run_id"], runs_kill
        assert runs_kill["by"] == SAM and runs_kill["order"]["signer"] == SAM

        # 1. The owner's kill, sent to the monitor again: taken once already.
        try:
            await monitor.execute_update("kill", owners_kill)
        except WorkflowUpdateFailedError as err:
            assert "was taken already" in str(err.cause), err.cause
        else:
            raise AssertionError("the monitor took the owner's kill a second time")
        # 2. The owner's fleet-wide kill, and the kill the monitor signed for the first run, sent to the
        #    later run: the one binds no run, the other another run; both were issued before it started.
        later_handle = client.get_workflow_handle(later)
        await later_handle.signal("kill", owners_kill["statement"])  # the signed statement alone
        await later_handle.signal("kill", runs_kill)
        reasons = await _refused(st, later, 2)
        assert any("binds no run" in r for r in reasons), reasons
        assert any("is for run 'refund-agent-" in r or "not this one" in r for r in reasons), reasons
        status = await st.status(later)
        assert status.killed is None and status.state.value == "waiting_approval", status
        assert [s for o, s, _ in st.refunds() if o == 1002] == ["issued"]

        # 3. A newer pause, then the old resume sent again, or one signed before the pause and kept: they
        #    lift nothing.
        kept = Signer.of(SAM).resume(namespace=client.namespace, agent=AGENT, reason="signed early, kept")
        await asyncio.sleep(1.1)  # statements carry whole seconds: the pause is signed a second later at least
        paused = await st.acli("kill", AGENT, "--as", SAM, "--reason", "again")
        assert paused.ok, paused
        try:
            await monitor.execute_update("resume", owners_resume)
        except WorkflowUpdateFailedError as err:
            assert "was taken already" in str(err.cause) or "before the monitor's last decision" in str(err.cause)
        else:
            raise AssertionError("an old resume lifted a newer pause")
        try:
            await monitor.execute_update("resume", {"by": SAM, "reason": "kept", "statement": kept.model_dump(mode="json")})
        except WorkflowUpdateFailedError as err:
            assert "was issued before the monitor's last decision" in str(err.cause), err.cause
        else:
            raise AssertionError("a resume signed before the pause lifted it")
        notice = (await monitor.describe()).memo
        state = await monitor.query("pause_state")
        assert state["paused"] is True, (state, notice)
        # 4. Unsigned and forged fleet orders sent straight to the monitor are refused too.
        for forged in ({"by": SAM, "reason": "x", "rollback": True}, {**owners_kill, "statement": {**owners_kill["statement"], "nonce": "x" * 22}}):
            try:
                await monitor.execute_update("kill", forged)
            except WorkflowUpdateFailedError as err:
                assert "must be signed" in str(err.cause) or "does not verify" in str(err.cause), err.cause
            else:
                raise AssertionError(f"the monitor took {forged}")
    finally:
        st.close()
