"""Timers on the time-skipping server; an idempotent write under activity retry on the dev server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.exceptions import ApplicationError

import mandate.activities.shop as shop
from mandate.authority import Authority
from mandate.decisions import DecisionKind
from mandate.run import RunState
from mandate.tools import ToolRegistry, current_tool_context, tool
from mandate.worker import build_worker
from mandate.workflows.refund_agent import RefundAgent
from tests.helpers import (
    refunds_for,
    scheduled_activities,
    signed_decide,
    signed_decision,
    start_refund,
    status_of,
    wait_pending,
)

# Each test refunds from a shop of its own: none depends on which orders an earlier test refunded.
pytestmark = pytest.mark.usefixtures("fresh_shop")

CFO = "cfo@example.com"


@pytest_asyncio.fixture
async def time_worker(time_env, task_queue, charters):
    async with build_worker(time_env.client, task_queue=task_queue, charters=charters) as w:
        yield w


async def test_undecided_request_escalates_then_is_rejected(
    time_env, time_worker, task_queue, workflow_id, mandate_home
):
    client = time_env.client
    handle = await start_refund(client, task_queue, workflow_id, 1012)
    await wait_pending(handle, "issue_refund")
    # nobody answers: 4h to the escalation group, 4h more, then the request is rejected
    result = await handle.result()
    assert result.outcome == "refund_rejected"
    assert result.escalations == 1
    status = await status_of(handle)
    request = status.requests[0]
    assert request.escalated and request.status.value == "rejected"
    assert request.decision is not None
    assert (request.decision.approver, request.decision.channel.value) == ("mandate", "timeout")
    assert request.decision.reason == "nobody decided within 4h"
    assert refunds_for(mandate_home, 1012) == []


async def test_escalation_group_can_decide_after_the_timeout(time_env, time_worker, task_queue, workflow_id):
    client = time_env.client
    handle = await start_refund(client, task_queue, workflow_id, 1013)
    await wait_pending(handle, "issue_refund")
    # before the timeout the CFO is not an approver
    refused = await _decide_error(handle, CFO)
    assert "cfo@example.com is not an approver" in refused
    await time_env.sleep(timedelta(hours=4, minutes=1))
    status = await status_of(handle)
    assert status.escalations == 1 and status.pending[0].escalated
    assert status.pending[0].eligible == ["raj@example.com", "sam@example.com", CFO]
    await handle.execute_update(RefundAgent.decide, await signed_decide(handle, CFO, DecisionKind.APPROVE))
    await wait_pending(handle, "notify_customer")
    await handle.execute_update(
        RefundAgent.decide, await signed_decide(handle, "qi@example.com", DecisionKind.APPROVE)
    )
    result = await handle.result()
    assert result.outcome == "refunded" and result.state is RunState.COMPLETED


async def _decide_error(handle, approver: str) -> str:
    try:
        await handle.execute_update(
            RefundAgent.decide, await signed_decide(handle, approver, DecisionKind.APPROVE)
        )
    except Exception as err:  # noqa: BLE001
        return str(getattr(err, "cause", err))
    raise AssertionError("the decision was not refused")


def _flaky_registry() -> ToolRegistry:
    """The shop's tools, except that issue_refund dies after writing on its first attempt."""
    tools = ToolRegistry()
    for fn in (shop.lookup_order, shop.check_refund_policy, shop.notify_customer, shop.delete_customer):
        spec = shop_spec(fn.__name__)
        tool(authority=spec.authority, cost=spec.cost, irreversible=spec.irreversible, into=tools)(fn)
    tool(authority=Authority.WRITE, compensates="issue_refund", into=tools)(shop.reverse_refund)

    @tool(
        authority=Authority.WRITE, cost=0.01, compensation="reverse_refund", name="issue_refund", into=tools
    )
    async def flaky_issue_refund(args: shop.RefundArgs) -> shop.RefundReceipt:
        receipt = shop.record_refund(args, current_tool_context().idempotency_key or "")
        if activity.info().attempt == 1:
            raise ApplicationError("connection reset after the payment provider accepted the refund")
        return receipt

    return tools


def shop_spec(name: str):
    from mandate.tools import registry

    spec = registry.get(name)
    assert spec is not None
    return spec


async def test_write_retried_after_a_crash_refunds_once(
    client, task_queue, workflow_id, charters, mandate_home: Path
):
    async with build_worker(client, task_queue=task_queue, charters=charters, tools=_flaky_registry()):
        handle = await start_refund(client, task_queue, workflow_id, 1015)
        await wait_pending(handle, "issue_refund")
        await handle.signal("approve", await signed_decision(handle, "raj@example.com"))
        await wait_pending(handle, "notify_customer")
        await handle.signal("approve", await signed_decision(handle, "qi@example.com"))
        result = await handle.result()
        status = await status_of(handle)
    assert result.outcome == "refunded"
    assert len(refunds_for(mandate_home, 1015)) == 1
    refund_step = next(s for s in status.steps if s.tool == "issue_refund")
    # from protocol 4 a write's key names the run too: <workflow id>:<run id>:<request>
    assert refund_step.idempotency_key == f"{workflow_id}:{(await handle.describe()).run_id}:r1"
    attempts = [
        e async for e in handle.fetch_history_events() if e.HasField("activity_task_started_event_attributes")
    ]
    assert any(e.activity_task_started_event_attributes.attempt == 2 for e in attempts)
    assert (await scheduled_activities(handle)).count("issue_refund") == 1
