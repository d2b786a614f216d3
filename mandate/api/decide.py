"""Deciding an approval request through the run's ``decide`` update: refused at once, or taken once."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa
from mandate.api._server import TRANSIENT, describe, require_worker
from mandate.contract import Query, Update
from mandate.decisions import ApprovalRequest, DecideInput, Decision, DecisionContext, DecisionKind
from mandate.errors import DecisionRefusedError, KeysError, MandateError, NoWorkerAnsweredError, first_problem
from mandate.origins import OriginUnknownError, RunOrigins
from mandate.run import AgentStatus, RunState
from mandate.settings import load_settings
from mandate.signer import Signer
from mandate.statements import SignedStatement, sha256_of

__all__ = [
    "EXPIRY_GRACE_SECONDS",
    "WORKER_CHECK_AFTER",
    "chosen_request",
    "decide",
    "decision_context",
    "older_worker",
    "require_mandate_run",
    "sign_decision",
]

EXPIRY_GRACE_SECONDS = 2.0
#: How long the run may take to answer before the server is asked whether a worker polls its queue.
WORKER_CHECK_AFTER = 1.0
#: A run in one of these states has nothing left to decide (Temporal may not have closed it yet).
_ENDED = {RunState.COMPLETED, RunState.FAILED, RunState.KILLED, RunState.ROLLING_BACK, RunState.ROLLED_BACK}


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
    context: DecisionContext | None = None,
) -> Decision:
    """Decide through the ``decide`` update: a refusal comes back at once, with nothing written.

    The decision expires ``timeout`` after it is sent: if no worker has taken it by then the run
    refuses it, so an update that waited at the server while no worker ran is never applied after
    this call has said that nothing was decided.

    ``context`` is the run as the caller last read it (``decision_context``): a program that has just
    shown a person the pending request signs against exactly what it showed, and the run is not asked
    again. Should the request have changed since (decided, or another one), the run refuses the
    statement, which names the request and the hash of its arguments.
    """
    try:
        DecideInput(request_id=request_id, approver=approver, reason=reason, decision=decision)
    except ValidationError as err:
        raise DecisionRefusedError(first_problem(err)) from None
    handle = client.get_workflow_handle(workflow_id)
    if context is None:
        context = await decision_context(client, handle, task_queue=task_queue, timeout=timeout.total_seconds())
    else:  # a context the caller read (or made): the run must still be Mandate's (kept per run: no new read)
        await require_mandate_run(client, handle.id, context.run_id, task_queue=task_queue)
    if context.state in _ENDED:
        raise _ended(workflow_id, await _closed_as(handle, context.state))
    statement, no_key = _signed(client.namespace, handle.id, context, decision, approver, reason, request_id)
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
        raise DecisionRefusedError(no_key if no_key and "needs a signed decision" in message else message) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as err:
        # The answer was lost, not necessarily the decision: a busy server can drop the reply to an
        # update a worker has applied (and the run may have finished since). Ask the run itself.
        taken = await _decision_taken(handle, update_id)
        if taken is not None:
            return taken
        if isinstance(err, RPCError) and err.status not in TRANSIENT:
            closed = await _closed_as(handle, "")
            if closed:  # the run ended since it answered (or answered from its history: terminated)
                raise _ended(workflow_id, closed) from None
            raise DecisionRefusedError(
                f"Temporal refused the decision: {err.message or err}; the run has not recorded it"
            ) from None
        raise NoWorkerAnsweredError(
            f"no worker answered {workflow_id} within {timeout.total_seconds():.0f}s, so nothing was decided "
            "(the decision expires unapplied); check that `mandate worker` is running, then send the same "
            "command again"
        ) from None


async def decision_context(
    client: Client, handle: WorkflowHandle[Any, Any], *, task_queue: str | None = None, timeout: float = 20
) -> DecisionContext:
    """The run's id, agent, state and pending requests, from its ``decision_context`` query.

    The answer also proves that a worker serves the run, so the server is asked about pollers only when
    the answer is slow: no worker polls the run's queue (refused in a line, nothing sent), or the run has
    ended. A worker from before the query existed is asked the old way (describe, ``pending_approvals``).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    query = asyncio.ensure_future(handle.query(Query.DECISION_CONTEXT, result_type=DecisionContext))
    try:
        done, _ = await asyncio.wait({query}, timeout=min(WORKER_CHECK_AFTER, timeout))
        if not done:
            description = await describe(handle)
            if description.status is not WorkflowExecutionStatus.RUNNING:
                raise _ended(handle.id, _status_name(description))
            await require_worker(client, task_queue or description.task_queue)
        context = await asyncio.wait_for(query, timeout=max(deadline - loop.time(), 0.1))
    except WorkflowQueryFailedError as err:
        if not older_worker(err):
            raise NoWorkerAnsweredError(f"{handle.id} did not answer: {err}; nothing was decided") from None
        context = await _context_from_older_worker(handle)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise MandateError(f"no workflow with id {handle.id!r}") from None
        raise NoWorkerAnsweredError(_no_answer(handle.id, timeout)) from None
    except TimeoutError:
        raise NoWorkerAnsweredError(_no_answer(handle.id, timeout)) from None
    finally:
        query.cancel()
    await require_mandate_run(client, handle.id, context.run_id, task_queue=task_queue)
    return context


_ORIGINS: weakref.WeakKeyDictionary[Client, RunOrigins] = weakref.WeakKeyDictionary()


async def require_mandate_run(client: Client, workflow_id: str, run_id: str, *, task_queue: str | None = None) -> None:
    """Refuse to sign for a run that is not Mandate's, by the server's record (``mandate.origins``): on
    another task queue (someone else's worker answers its queries, and can show anything), or started
    without a start a Mandate worker verified. What the run says of itself proves nothing."""
    queue = task_queue or load_settings().task_queue
    origins = _ORIGINS.get(client)
    if origins is None:
        origins = _ORIGINS[client] = RunOrigins(client)
    try:
        origin = await origins.of(workflow_id, run_id)
    except OriginUnknownError as err:
        raise MandateError(f"{err}; nothing was signed") from None
    if origin.task_queue != queue:
        raise DecisionRefusedError(
            f"{workflow_id} is a {origin.workflow_type} run on task queue {origin.task_queue!r}, not Mandate's "
            f"{queue!r}: its worker is not Mandate's and what it shows proves nothing; nothing was signed"
        )
    if not origin.verified_start:
        raise DecisionRefusedError(f"no Mandate worker verified the start of {workflow_id}; nothing was signed")


def older_worker(err: WorkflowQueryFailedError) -> bool:
    """Whether the run's worker has no ``decision_context`` query (a Mandate worker from before it)."""
    text = str(err)
    return Query.DECISION_CONTEXT.value in text and ("expected but not found" in text or "unknown queryType" in text)


async def _context_from_older_worker(handle: WorkflowHandle[Any, Any]) -> DecisionContext:
    description = await describe(handle)
    agent = description.typed_search_attributes.get(sa.AGENT)
    status = await handle.query(Query.STATUS, result_type=AgentStatus)
    pending = await handle.query(Query.PENDING_APPROVALS, result_type=list[ApprovalRequest])
    return DecisionContext(
        run_id=description.run_id or "",
        agent=agent or status.agent,
        state=status.state.value,
        pending=pending,
    )


def _no_answer(workflow_id: str, timeout: float) -> str:
    return (
        f"no worker answered {workflow_id} within {timeout:.0f}s, so nothing was decided; "
        "check that `mandate worker` is running, then send the same command again"
    )


def _ended(workflow_id: str, how: str) -> DecisionRefusedError:
    return DecisionRefusedError(f"{workflow_id} is {how}; there is nothing left to decide")


def _status_name(description: WorkflowExecutionDescription) -> str:
    return description.status.name.lower() if description.status else "unknown"


async def _closed_as(handle: WorkflowHandle[Any, Any], state: str) -> str:
    """How Temporal closed the run (``completed``, ``terminated``...); its own ``state`` while it still runs."""
    try:
        description = await handle.describe()
    except RPCError:
        return state
    return state if description.status is WorkflowExecutionStatus.RUNNING else _status_name(description)


def _signed(
    namespace: str,
    workflow_id: str,
    context: DecisionContext,
    decision: DecisionKind,
    approver: str,
    reason: str,
    request_id: str | None,
) -> tuple[SignedStatement | None, str | None]:
    """The decision signed with ``approver``'s key, bound to the run, the request and its arguments.

    With no key for ``approver`` on this machine the decision goes unsigned (a tool whose charter accepts
    that takes it); the second value then says why, and is the whole refusal of a tool that does not.
    """
    try:
        signer = Signer.of(approver)
    except KeysError as err:
        return None, str(err)
    request = chosen_request(context.pending, request_id)
    if request is None:
        return None, None  # the run refuses it and says why: nothing pending, or no such request
    return sign_decision(signer, namespace, workflow_id, context, request, decision, reason), None


def sign_decision(
    signer: Signer,
    namespace: str,
    workflow_id: str,
    context: DecisionContext,
    request: ApprovalRequest,
    decision: DecisionKind,
    reason: str,
) -> SignedStatement:
    """``decision`` on ``request`` of the run ``context`` describes, signed by ``signer``.

    The hash signed is the one of the arguments shown, computed here: a run that shows one set of
    arguments and asks for the hash of another is refused, nothing signed.
    """
    if sha256_of(request.args) != request.args_hash:
        raise DecisionRefusedError(
            f"{workflow_id} asks to sign a hash that is not of the arguments it shows for {request.id} "
            f"({request.tool}); nothing was signed: the run is not what it claims"
        )
    return signer.decision(
        approve=decision is DecisionKind.APPROVE,
        namespace=namespace,
        agent=context.agent,
        workflow_id=workflow_id,
        run_id=context.run_id,
        request_id=request.id,
        tool=request.tool,
        args_hash=request.args_hash,
        reason=reason,
    )


def chosen_request(pending: list[ApprovalRequest], request_id: str | None) -> ApprovalRequest | None:
    """The request a decision is for: the one named, or the only one pending."""
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
