"""The governed agent against a real dev server: approvals, refusals, blocks, search attributes."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.worker import Worker

from mandate import search_attributes as sa
from mandate.charter import Charter
from mandate.decisions import DecisionKind
from mandate.run import CompensationStatus, RunState, StepStatus
from mandate.worker import build_worker
from mandate.workflows.refund_agent import RefundAgent
from tests.helpers import (
    eventually,
    refunds_for,
    scheduled_activities,
    signed_decide,
    signed_decision,
    start_refund,
    start_signed,
    status_of,
    wait_pending,
)

# Each test refunds from a shop of its own: none depends on which orders an earlier test refunded.
pytestmark = pytest.mark.usefixtures("fresh_shop")

RAJ, SAM, QI, BOB = "raj@example.com", "sam@example.com", "qi@example.com", "bob@example.com"


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str, charters: dict[str, Charter]) -> Worker:
    return build_worker(client, task_queue=task_queue, charters=charters)


async def test_approved_by_signal_refunds_once(client, worker, task_queue, workflow_id, mandate_home: Path):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1003)
        status = await wait_pending(handle, "issue_refund")
        request = status.pending[0]
        assert status.state is RunState.WAITING_APPROVAL
        assert request.args == {"order_id": 1003, "amount_cents": 2000, "reason": "arrived damaged"}
        assert request.args_hash.startswith("sha256:")
        assert refunds_for(mandate_home, 1003) == []  # nothing is written before a person decides

        await handle.signal("approve", await signed_decision(handle, RAJ, reason="damage shown"))
        await wait_pending(handle, "notify_customer")
        await handle.signal("approve", await signed_decision(handle, QI))
        result = await handle.result()
        status = await status_of(handle)

    assert result.outcome == "refunded"
    assert [r[2] for r in refunds_for(mandate_home, 1003)] == ["issued"]
    assert [(d.approver, d.channel.value, d.verified) for d in status.decisions] == [
        (RAJ, "signal", True),
        (QI, "signal", True),
    ]
    assert [c.compensation for c in status.compensations] == ["reverse_refund", None]
    assert status.compensations[1].status is CompensationStatus.NOT_UNDOABLE
    assert status.model_dump(mode="json")["compensations"][1]["status"] == "not_undoable"  # as histories carry it


async def test_approved_by_update_returns_the_decision(client, worker, task_queue, workflow_id):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1004)
        status = await wait_pending(handle, "issue_refund")
        decision = await handle.execute_update(
            RefundAgent.decide, await signed_decide(handle, SAM, DecisionKind.APPROVE, reason="ok")
        )
        assert decision.request_id == status.pending[0].id
        assert decision.channel.value == "update" and decision.update_id
        await wait_pending(handle, "notify_customer")
        await handle.execute_update(RefundAgent.decide, await signed_decide(handle, QI, DecisionKind.APPROVE))
        assert (await handle.result()).outcome == "refunded"


async def test_rejected_refund_writes_nothing(client, worker, task_queue, workflow_id, mandate_home):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1005)
        await wait_pending(handle, "issue_refund")
        rejection = await signed_decision(handle, SAM, approve=False, reason="customer keeps the item")
        await handle.signal("reject", rejection)
        result = await handle.result()
    assert result.outcome == "refund_rejected"
    assert result.rejections == 1
    assert refunds_for(mandate_home, 1005) == []
    assert "issue_refund" not in await scheduled_activities(handle)


async def test_self_and_unknown_approvers_are_refused_and_the_run_goes_on(
    client, worker, task_queue, workflow_id
):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1006, requested_by=RAJ)
        await wait_pending(handle, "issue_refund")

        # Each signs with their own key: the refusal is about who they are, not a missing signature.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RefundAgent.decide, await signed_decide(handle, RAJ, DecisionKind.APPROVE)
            )
        assert "requested this run and cannot approve" in str(refused.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RefundAgent.decide, await signed_decide(handle, "mallory@example.com", DecisionKind.APPROVE)
            )
        assert "mallory@example.com is not an approver of issue_refund" in str(refused.value.cause)

        # The same refusals by signal cannot answer the sender, so they are recorded instead.
        await handle.signal("approve", await signed_decision(handle, RAJ))
        await handle.signal("approve", await signed_decision(handle, "mallory@example.com"))
        status = await eventually(
            lambda: _refused_at_least(handle, 2), what="two refused decisions in status"
        )
        assert [r.reason for r in status.refused] == [
            "raj@example.com requested this run and cannot approve its actions",
            "mallory@example.com is not an approver of issue_refund (approvers: raj@example.com, sam@example.com)",
        ]
        assert status.state is RunState.WAITING_APPROVAL and status.pending[0].status.value == "pending"
        await handle.signal("approve", await signed_decision(handle, SAM))
        await wait_pending(handle, "notify_customer")
        await handle.signal(
            "reject", await signed_decision(handle, QI, approve=False, reason="tone is wrong")
        )
        result = await handle.result()
    assert result.outcome == "refunded" and result.refused_decisions == 2


async def _refused_at_least(handle, n: int):
    status = await status_of(handle)
    return status if status.refused_total >= n else None


MALFORMED = [
    None,
    "approve it",
    42,
    ["raj@example.com"],
    {},
    {"approver": 5},
    {"approver": ""},
    {"approver": "x" * 10_000},
    {"approver": RAJ, "request_id": "r99"},
    {"approver": RAJ, "extra": {"nested": [1, 2, {"deep": None}]}},
    {"approver": "ラジ@example.com"},
]


async def test_malformed_signals_are_refused_recorded_and_harmless(client, worker, task_queue, workflow_id):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1008)
        await wait_pending(handle, "issue_refund")
        for payload in MALFORMED:
            await handle.signal("approve", payload)
        await handle.signal("reject", {"approver": SAM})  # a rejection without a reason
        status = await eventually(
            lambda: _refused_at_least(handle, len(MALFORMED) + 1), what="every malformed signal refused"
        )
        assert status.state is RunState.WAITING_APPROVAL
        assert status.decisions == []
        reasons = [r.reason for r in status.refused]
        assert reasons[0].startswith("the signal has no input")
        assert reasons[1] == "the signal input must be a JSON object, not str"
        assert any("no approval request 'r99'" in r for r in reasons)
        assert reasons[-1] == "a rejection needs a reason"
        assert all("\n" not in r for r in reasons)
        # still alive and governed: a proper (signed) approval goes through
        await handle.signal("approve", await signed_decision(handle, RAJ))
        await wait_pending(handle, "notify_customer")
        await handle.signal("approve", await signed_decision(handle, QI))
        assert (await handle.result()).outcome == "refunded"


async def test_blocked_tool_never_reaches_an_activity(client, worker, task_queue, workflow_id, mandate_home):
    async with worker:
        handle = await start_refund(
            client, task_queue, workflow_id, 1009, reason="broken, please delete my account"
        )
        await wait_pending(handle, "issue_refund")
        await handle.signal("reject", await signed_decision(handle, SAM, approve=False, reason="not today"))
        result = await handle.result()
        status = await status_of(handle)
    assert result.violations == 1
    blocked = [s for s in status.steps if s.status is StepStatus.BLOCKED]
    assert [(s.tool, s.error) for s in blocked] == [
        ("delete_customer", "policy violation: delete_customer: blocked by the charter")
    ]
    assert "delete_customer" not in await scheduled_activities(handle)
    assert set(await scheduled_activities(handle)) == {"lookup_order", "check_refund_policy"}


async def test_search_attributes_let_an_approver_find_what_waits_on_them(
    client, worker, task_queue, workflow_id
):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1011)
        await wait_pending(handle, "issue_refund")
        query = (
            f"MandateAgent = 'refund-agent' AND MandatePendingApprovals > 0 AND MandateApprovers = '{SAM}'"
            f" AND WorkflowId = '{workflow_id}'"
        )

        async def listed():
            return [wf async for wf in client.list_workflows(query)]

        found = await eventually(listed, what="the run in a visibility query")
        attrs = found[0].typed_search_attributes
        assert attrs.get(sa.STATE) == "waiting_approval"
        assert attrs.get(sa.OWNER) == "ana@example.com"
        assert attrs.get(sa.REQUESTED_BY) == BOB
        await handle.signal("reject", await signed_decision(handle, SAM, approve=False, reason="no"))
        await handle.result()

        async def settled():
            desc = await handle.describe()
            sattrs = desc.typed_search_attributes
            return desc if sattrs.get(sa.STATE) == "completed" else None

        desc = await eventually(settled, what="final search attributes")
        assert desc.typed_search_attributes.get(sa.PENDING_APPROVALS) == 0
        assert desc.typed_search_attributes.get(sa.FLAGS) == ["rework"]


async def test_invalid_input_fails_the_run_with_a_clear_error(client, worker, task_queue, workflow_id):
    async with worker:
        handle = await start_signed(
            client, RefundAgent, task_queue, workflow_id, {"order_id": "1001"}, requested_by=BOB
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "invalid_input" in str(failed.value.cause)


async def test_a_new_run_records_its_protocol_not_a_patch_and_its_tools_timeouts(
    client, worker, task_queue, workflow_id, charters
):
    """What governance adds to a run's history stays small: the version rides in the load_mandate
    marker (no patch marker, no TemporalChangeVersion), one search-attribute write when the request
    opens and one at the end, and each tool's attempt timeout is the one it declares."""
    from temporalio.api.enums.v1 import EventType

    from mandate.api import start_search_attributes
    from mandate.run import GOVERNED_PROTOCOL
    from mandate.tools import registry

    async with worker:
        handle = await start_signed(
            client,
            RefundAgent,
            task_queue,
            workflow_id,
            {"order_id": 1048, "reason": "arrived damaged"},
            requested_by=BOB,
            search_attributes=start_search_attributes("refund-agent", charters["refund-agent"], BOB),
        )
        await wait_pending(handle, "issue_refund")
        await handle.signal("approve", await signed_decision(handle, RAJ))
        await wait_pending(handle, "notify_customer")
        await handle.signal("reject", await signed_decision(handle, QI, approve=False, reason="tone"))
        await handle.result()
        events = [e async for e in handle.fetch_history_events()]

    markers = [e.marker_recorded_event_attributes for e in events if e.marker_recorded_event_attributes.marker_name]
    assert [m.marker_name for m in markers] == ["core_local_activity"]
    assert f'"protocol":{GOVERNED_PROTOCOL}' in markers[0].details["result"].payloads[0].data.decode()
    upserts = [
        dict(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert all("TemporalChangeVersion" not in u for u in upserts)
    # waiting on r1; waiting on r2 (r1's approval published with it); the end
    assert len(upserts) == 3, upserts
    timeouts = {
        e.activity_task_scheduled_event_attributes.activity_type.name: (
            e.activity_task_scheduled_event_attributes.start_to_close_timeout.ToTimedelta()
        )
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert set(timeouts) == {"lookup_order", "check_refund_policy", "issue_refund"}
    for tool, timeout in timeouts.items():
        spec = registry.get(tool)
        assert spec is not None and timeout == spec.timeout, (tool, timeout)


async def test_the_web_ui_shows_what_waits_and_how_to_decide_it(client, worker, task_queue, workflow_id):
    from temporalio.api.sdk.v1 import WorkflowMetadata

    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1029)
        await wait_pending(handle, "issue_refund")
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        await handle.signal("reject", await signed_decision(handle, SAM, approve=False, reason="no"))
        await handle.result()

    details = metadata.current_details
    assert "`r1` issue_refund `sha256:" in details and "raj@example.com, sam@example.com" in details
    assert 'choose `approve` or `reject`' in details and "mandate sign <workflow id> --request r1" in details
    # the list the UI offers under "Send a Signal" (tests/test_signals_in_ui.py checks it in full)
    assert {"approve", "reject", "kill"} <= {s.name for s in metadata.definition.signal_definitions}
