"""Deciding an approval request through the run's ``decide`` update: refused at once, or taken once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from mandate import search_attributes as sa
from mandate.api._server import TRANSIENT, describe, require_worker
from mandate.contract import Query, Update
from mandate.decisions import ApprovalRequest, DecideInput, Decision, DecisionKind
from mandate.errors import DecisionRefusedError, KeysError, NoWorkerAnsweredError, first_problem
from mandate.run import AgentStatus
from mandate.signer import Signer
from mandate.statements import SignedStatement

__all__ = ["EXPIRY_GRACE_SECONDS", "decide", "pending_request"]

EXPIRY_GRACE_SECONDS = 2.0


async def decide(
    client: Client,
    workflow_id: str,
    *,
    decision: DecisionKind,
    approver: str,
    reason: str = "",
    request_id: str | None = None,
    task_queue: str | None = None,
    timeout: timedelta = timedelta(seconds=20),
) -> Decision:
    """Decide through the ``decide`` update: a refusal comes back at once, with nothing written.

    The decision expires ``timeout`` after it is sent: if no worker has taken it by then the run
    refuses it, so an update that waited at the server while no worker ran is never applied after
    this call has said that nothing was decided.
    """
    try:
        DecideInput(request_id=request_id, approver=approver, reason=reason, decision=decision)
    except ValidationError as err:
        raise DecisionRefusedError(first_problem(err)) from None
    handle = client.get_workflow_handle(workflow_id)
    description = await describe(handle)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        status = description.status.name.lower() if description.status else "unknown"
        raise DecisionRefusedError(f"{workflow_id} is {status}; there is nothing left to decide")
    await require_worker(client, task_queue or description.task_queue)
    agent = description.typed_search_attributes.get(sa.AGENT)
    try:
        statement, no_key = await asyncio.wait_for(
            _signed(client, handle, description.run_id, agent, decision, approver, reason, request_id),
            timeout=timeout.total_seconds(),
        )
    except (TimeoutError, RPCError, WorkflowQueryFailedError):
        raise NoWorkerAnsweredError(
            f"no worker answered {workflow_id} within {timeout.total_seconds():.0f}s, so nothing was decided; "
            "check that `mandate worker` is running, then send the same command again"
        ) from None
    payload = DecideInput(
        request_id=statement.request_id if statement else request_id,
        approver=approver,
        reason=reason,
        decision=decision,
        expires_at=datetime.now(UTC) + timeout,
        statement=statement,
    )
    update_id = f"decide-{uuid.uuid4().hex}"
    try:
        # A little longer than the expiry, so that a worker taking the update at the last moment
        # (its clock a little behind ours) is either answered here or refuses it.
        return await asyncio.wait_for(
            handle.execute_update(Update.DECIDE, payload, id=update_id, result_type=Decision),
            timeout=timeout.total_seconds() + EXPIRY_GRACE_SECONDS,
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise DecisionRefusedError(f"{message} ({no_key})" if no_key else message) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as err:
        # The answer was lost, not necessarily the decision: a busy server can drop the reply to an
        # update a worker has applied (and the run may have finished since). Ask the run itself.
        taken = await _decision_taken(handle, update_id)
        if taken is not None:
            return taken
        if isinstance(err, RPCError) and err.status not in TRANSIENT:
            raise DecisionRefusedError(
                f"Temporal refused the decision: {err.message or err}; the run has not recorded it"
            ) from None
        raise NoWorkerAnsweredError(
            f"no worker answered {workflow_id} within {timeout.total_seconds():.0f}s, so nothing was decided "
            "(the decision expires unapplied); check that `mandate worker` is running, then send the same "
            "command again"
        ) from None


async def _signed(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    run_id: str | None,
    agent: str | None,
    decision: DecisionKind,
    approver: str,
    reason: str,
    request_id: str | None,
) -> tuple[SignedStatement | None, str | None]:
    """The decision signed with ``approver``'s key, bound to the run, the request and its arguments.

    With no key for ``approver`` on this machine the decision goes unsigned (a tool whose charter accepts
    that takes it); the second value then says why, for the refusal of a tool that does not.
    """
    try:
        signer = Signer.of(approver)
    except KeysError as err:
        return None, str(err)
    request = await pending_request(handle, request_id)
    if request is None:
        return None, None  # the run refuses it and says why: nothing pending, or no such request
    if agent is None:  # a run started without Mandate's attributes: ask the run itself
        agent = (await handle.query(Query.STATUS, result_type=AgentStatus)).agent
    statement = signer.decision(
        approve=decision is DecisionKind.APPROVE,
        namespace=client.namespace,
        agent=agent,
        workflow_id=handle.id,
        run_id=run_id or "",
        request_id=request.id,
        tool=request.tool,
        args_hash=request.args_hash,
        reason=reason,
    )
    return statement, None


async def pending_request(handle: WorkflowHandle[Any, Any], request_id: str | None) -> ApprovalRequest | None:
    """The request a decision is for: the one named, or the only one pending."""
    pending = await handle.query(Query.PENDING_APPROVALS, result_type=list[ApprovalRequest])
    if request_id is not None:
        return next((r for r in pending if r.id == request_id), None)
    return pending[0] if len(pending) == 1 else None


async def _decision_taken(handle: WorkflowHandle[Any, Any], update_id: str) -> Decision | None:
    """The decision the run recorded for this update, if a worker answers within a few seconds."""
    try:
        status = await asyncio.wait_for(handle.query(Query.STATUS, result_type=AgentStatus), timeout=5)
    except (TimeoutError, WorkflowQueryFailedError, RPCError):
        return None
    return next((d for d in status.decisions if d.update_id == update_id), None)
