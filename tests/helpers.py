"""Small helpers the integration tests share."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from mandate.decisions import DecideInput, DecisionKind
from mandate.run import AgentResult, AgentRunInput, AgentStatus
from mandate.signer import Signer
from mandate.statements import SignedStatement
from mandate.workflows.refund_agent import RefundAgent

T = TypeVar("T")


async def start_refund(
    client: Client,
    task_queue: str,
    workflow_id: str,
    order_id: int,
    reason: str = "arrived damaged",
    requested_by: str = "bob@example.com",
) -> WorkflowHandle:
    """Start a refund run. The session's tests share one shop, which refunds an order once: a test
    that gets a refund issued needs an order no other test refunds or expects to be refundable."""
    order = {"order_id": order_id, "reason": reason}
    return await start_signed(client, RefundAgent, task_queue, workflow_id, order, requested_by=requested_by)


def signed_start(
    namespace: str, agent: str, workflow_id: str, run_input: dict[str, Any], requested_by: str
) -> SignedStatement:
    """The requester's signed start of a run, as `mandate start` signs it."""
    signer = Signer.of(requested_by)
    return signer.start(namespace=namespace, agent=agent, workflow_id=workflow_id, input=run_input)


async def start_signed(
    client: Client,
    workflow_cls: Any,
    task_queue: str,
    workflow_id: str,
    run_input: dict[str, Any],
    *,
    requested_by: str = "bob@example.com",
    **options: Any,
) -> WorkflowHandle:
    """Start a run of ``workflow_cls`` (a governed agent class) with its start signed by the requester."""
    start = signed_start(client.namespace, workflow_cls.agent, workflow_id, run_input, requested_by)
    return await client.start_workflow(
        workflow_cls.run,
        AgentRunInput(input=run_input, requested_by=requested_by, start=start),
        id=workflow_id,
        task_queue=task_queue,
        **options,
    )


async def decision_statement(
    handle: WorkflowHandle,
    approver: str,
    *,
    approve: bool = True,
    reason: str = "",
    request_id: str | None = None,
) -> SignedStatement:
    """A decision signed by ``approver`` for the named request (whatever its state: a decision may be signed
    for a request someone else decides first), or else for the run's first pending request."""
    status = await handle.query("status", result_type=AgentStatus)
    candidates = status.pending if request_id is None else [r for r in status.requests if r.id == request_id]
    assert candidates, f"{handle.id} has no {'pending request' if request_id is None else request_id}"
    request = candidates[0]
    description = await handle.describe()
    return Signer.of(approver).decision(
        approve=approve,
        namespace="default",
        agent=status.agent,
        workflow_id=handle.id,
        run_id=description.run_id or "",
        request_id=request.id,
        tool=request.tool,
        args_hash=request.args_hash,
        reason=reason,
    )


async def signed_decision(
    handle: WorkflowHandle,
    approver: str,
    *,
    approve: bool = True,
    reason: str = "",
    request_id: str | None = None,
) -> dict:
    """A decision signed by ``approver`` for the run's pending request, as `mandate sign` prints it (a dict
    to send as the ``approve`` / ``reject`` signal's one input)."""
    statement = await decision_statement(
        handle, approver, approve=approve, reason=reason, request_id=request_id
    )
    return statement.model_dump(mode="json")


async def signed_decide(
    handle: WorkflowHandle,
    approver: str,
    decision: DecisionKind,
    *,
    reason: str = "",
    request_id: str | None = None,
    **fields: Any,
) -> DecideInput:
    """A ``decide`` update's input carrying ``approver``'s signed statement, as `mandate approve` sends it."""
    statement = await decision_statement(
        handle, approver, approve=decision is DecisionKind.APPROVE, reason=reason, request_id=request_id
    )
    return DecideInput(
        request_id=statement.request_id,
        approver=approver,
        reason=reason,
        decision=decision,
        statement=statement,
        **fields,
    )


async def signed_kill(handle: WorkflowHandle, by: str, *, reason: str, rollback: bool = False, fleet: bool = False) -> dict:
    """A kill signed by ``by`` for this run (or, with ``fleet``, for every run of its agent)."""
    status = await handle.query("status", result_type=AgentStatus)
    statement = Signer.of(by).kill(
        namespace="default",
        agent=status.agent,
        workflow_id="" if fleet else handle.id,
        rollback=rollback,
        reason=reason,
    )
    return statement.model_dump(mode="json")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy, within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def finished(handle: WorkflowHandle, timeout: float = 60) -> AgentResult:
    """The run's result, within ``timeout`` seconds (a run that never ends fails the test, not hangs it)."""
    try:
        return await asyncio.wait_for(handle.result(), timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"{handle.id} did not end within {timeout}s") from None


async def status_of(handle: WorkflowHandle) -> AgentStatus:
    return await handle.query(RefundAgent.status)


async def wait_pending(handle: WorkflowHandle, tool: str) -> AgentStatus:
    async def probe() -> AgentStatus | None:
        status = await status_of(handle)
        return status if any(r.tool == tool for r in status.pending) else None

    return await eventually(probe, what=f"a pending {tool} request")


async def scheduled_activities(handle: WorkflowHandle) -> list[str]:
    """The activity types the history shows as scheduled, in order."""
    names = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
    return names


def refunds_for(home: Path, order_id: int) -> list[tuple[int, int, str]]:
    with sqlite3.connect(home / "shop.db") as db:
        return db.execute(
            "SELECT id, amount_cents, status FROM refunds WHERE order_id = ? ORDER BY id", (order_id,)
        ).fetchall()


class CommandResult(Protocol):
    returncode: int
    stdout: str
    stderr: str


def one_line_error(r: CommandResult) -> str:
    """The command failed the way the design says: exit 1, one `error:` line on stderr, no traceback."""
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr + r.stdout, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r
    assert lines[0].startswith("error: "), r
    return lines[0]
