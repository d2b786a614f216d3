"""The Python API behind the CLI: start a run, read its status, list and decide approvals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa
from mandate.charter import Charter
from mandate.contract import Query, Update, monitor_id
from mandate.decisions import ApprovalRequest, DecideInput, Decision, DecisionKind, KillRequest
from mandate.errors import (
    AgentNotFoundError,
    DecisionRefusedError,
    MandateError,
    NoWorkerAnsweredError,
    first_problem,
)
from mandate.outcomes import KillDecision, PauseState, ResumeInput
from mandate.run import AgentRunInput, AgentStatus

__all__ = [
    "start_agent",
    "get_status",
    "list_pending",
    "PendingApproval",
    "decide",
    "pause_state",
    "kill_agent",
    "resume_agent",
    "kill_decisions",
    "AgentPausedError",
]


class AgentPausedError(MandateError):
    """Raised when a start is refused because the agent is paused by a kill."""


EXPIRY_GRACE_SECONDS = 2.0
_TRANSIENT = (
    RPCStatusCode.CANCELLED,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED,
)


def start_search_attributes(agent: str, charter: Charter, requested_by: str) -> TypedSearchAttributes:
    """What a run starts with, so the UI can filter it at once and the run need not write them again."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.AGENT, agent),
            SearchAttributePair(sa.OWNER, charter.owners.workflow),
            SearchAttributePair(sa.STATE, "running"),
            SearchAttributePair(sa.PENDING_APPROVALS, 0),
            SearchAttributePair(sa.REQUESTED_BY, requested_by),
        ]
    )


async def start_agent(
    client: Client,
    charters: Mapping[str, Charter],
    agent: str,
    *,
    input: dict[str, Any],
    requested_by: str,
    task_queue: str,
    workflow_id: str | None = None,
) -> str:
    """Start one run of ``agent``; returns its workflow id."""
    charter = charters.get(agent)
    if charter is None:
        known = ", ".join(sorted(charters)) or "none"
        raise AgentNotFoundError(f"no charter for agent {agent!r} (charters found: {known})")
    paused = await pause_state(client, agent)
    if paused is not None and paused.paused:
        why = paused.decision.reason if paused.decision else "stopped"
        by = paused.decision.by if paused.decision else "?"
        raise AgentPausedError(
            f"{agent} is paused by {by} ({why}); only its stop/go owner {paused.stop_go_owner} can "
            f"`mandate resume {agent}`"
        )
    workflow_id = workflow_id or f"{agent}-{uuid.uuid4().hex[:12]}"
    try:
        handle = await client.start_workflow(
            charter.workflow,
            AgentRunInput(input=input, requested_by=requested_by),
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=start_search_attributes(agent, charter, requested_by),
        )
    except RPCError as err:
        if err.status is RPCStatusCode.ALREADY_EXISTS:
            raise MandateError(f"a run with id {workflow_id!r} already exists; choose another --id") from None
        raise
    return handle.id


async def get_status(client: Client, workflow_id: str) -> AgentStatus:
    handle = client.get_workflow_handle(workflow_id)
    await _describe(handle)
    try:
        return await handle.query(Query.STATUS, result_type=AgentStatus)
    except WorkflowQueryFailedError as err:
        raise MandateError(f"{workflow_id} did not answer its status query: {err}") from None


@dataclass(frozen=True)
class PendingApproval:
    workflow_id: str
    agent: str
    request: ApprovalRequest


async def list_pending(
    client: Client, *, agent: str | None = None, concurrency: int = 50
) -> list[PendingApproval]:
    """Every pending approval request across running workflows (found through visibility, read by query)."""
    query = f"{sa.PENDING_APPROVALS.name} > 0 AND ExecutionStatus = 'Running'"
    if agent:
        query += f" AND {sa.AGENT.name} = '{_quote(agent)}'"
    found: list[tuple[str, str]] = []
    async for wf in client.list_workflows(query):
        found.append((wf.id, wf.typed_search_attributes.get(sa.AGENT) or ""))
    gate = asyncio.Semaphore(concurrency)

    async def pending_of(workflow_id: str, agent_name: str) -> list[PendingApproval]:
        async with gate:
            try:
                requests = await client.get_workflow_handle(workflow_id).query(
                    Query.PENDING_APPROVALS, result_type=list[ApprovalRequest]
                )
            except (WorkflowQueryFailedError, RPCError):
                return []  # closed or not answering since the visibility read
        return [PendingApproval(workflow_id, agent_name, r) for r in requests]

    batches = await asyncio.gather(*(pending_of(w, a) for w, a in found))
    items = [p for batch in batches for p in batch]
    return sorted(items, key=lambda p: (p.request.requested_at, p.workflow_id))


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
        payload = DecideInput(
            request_id=request_id,
            approver=approver,
            reason=reason,
            decision=decision,
            expires_at=datetime.now(UTC) + timeout,
        )
    except ValidationError as err:
        raise DecisionRefusedError(first_problem(err)) from None
    handle = client.get_workflow_handle(workflow_id)
    description = await _describe(handle)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        status = description.status.name.lower() if description.status else "unknown"
        raise DecisionRefusedError(f"{workflow_id} is {status}; there is nothing left to decide")
    await _require_worker(client, task_queue or description.task_queue)
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
        raise DecisionRefusedError(message) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as err:
        # The answer was lost, not necessarily the decision: a busy server can drop the reply to an
        # update a worker has applied (and the run may have finished since). Ask the run itself.
        taken = await _decision_taken(handle, update_id)
        if taken is not None:
            return taken
        if isinstance(err, RPCError) and err.status not in _TRANSIENT:
            raise DecisionRefusedError(
                f"Temporal refused the decision: {err.message or err}; the run has not recorded it"
            ) from None
        raise NoWorkerAnsweredError(
            f"no worker answered {workflow_id} within {timeout.total_seconds():.0f}s, so nothing was decided "
            "(the decision expires unapplied); check that `mandate worker` is running, then send the same "
            "command again"
        ) from None


async def _decision_taken(handle: WorkflowHandle[Any, Any], update_id: str) -> Decision | None:
    """The decision the run recorded for this update, if a worker answers within a few seconds."""
    try:
        status = await asyncio.wait_for(handle.query(Query.STATUS, result_type=AgentStatus), timeout=5)
    except (TimeoutError, WorkflowQueryFailedError, RPCError):
        return None
    return next((d for d in status.decisions if d.update_id == update_id), None)


async def _describe(handle: WorkflowHandle[Any, Any]) -> Any:
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise MandateError(f"no workflow with id {handle.id!r}") from None
        raise


async def _require_worker(client: Client, task_queue: str, *, grace: float = 2.0) -> None:
    """Refuse before sending anything when no worker polls the run's task queue.

    A worker that has just started may take a moment to show as a poller, so look again
    for ``grace`` seconds before refusing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while True:
        try:
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError as err:
            if err.status in _TRANSIENT:
                # Only a courtesy check: a busy server that drops it should not stop the decision,
                # which expires unapplied if no worker takes it.
                return
            raise
        if response.pollers:
            return
        if loop.time() >= deadline:
            raise NoWorkerAnsweredError(
                f"no worker is polling task queue {task_queue!r}; start `mandate worker` (nothing was decided)"
            )
        await asyncio.sleep(0.25)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def pause_state(client: Client, agent: str) -> PauseState | None:
    """The agent's pause state from its monitor; ``None`` when no monitor runs for it."""
    handle = client.get_workflow_handle(monitor_id(agent))
    try:
        description = await handle.describe()
        if description.status is not WorkflowExecutionStatus.RUNNING:
            return None  # ended by an operator: nobody guards the agent
        return await handle.query(Query.PAUSE_STATE, result_type=PauseState | None)  # type: ignore[arg-type]
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise MandateError(
            f"cannot tell whether {agent} is paused ({err.message}); is a worker running?"
        ) from None
    except WorkflowQueryFailedError as err:
        raise MandateError(f"cannot tell whether {agent} is paused: {err}") from None


async def _monitor_update(
    client: Client, agent: str, name: str, arg: Any, result_type: type, timeout: float
) -> Any:
    handle = client.get_workflow_handle(monitor_id(agent))
    description = await _describe(handle)
    await _require_worker(client, description.task_queue)
    try:
        return await asyncio.wait_for(
            handle.execute_update(name, arg, result_type=result_type), timeout=timeout
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        raise DecisionRefusedError(
            cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        ) from None
    except TimeoutError:
        raise NoWorkerAnsweredError(f"the monitor of {agent} did not answer within {timeout:.0f}s") from None


async def kill_agent(
    client: Client,
    agent: str,
    *,
    by: str,
    reason: str,
    rollback: bool = False,
    workflow_id: str | None = None,
    timeout: float = 120,
) -> KillDecision:
    """The stop/go owner stops the agent's fleet (pause + cancel or roll back), or one run of it."""
    return await _monitor_update(
        client,
        agent,
        Update.KILL,
        KillRequest(by=by, reason=reason, rollback=rollback, workflow=workflow_id),
        KillDecision,
        timeout,
    )


async def resume_agent(
    client: Client, agent: str, *, by: str, reason: str, timeout: float = 30
) -> PauseState:
    return await _monitor_update(
        client, agent, Update.RESUME, ResumeInput(by=by, reason=reason), PauseState, timeout
    )


async def kill_decisions(client: Client, agent: str) -> list[KillDecision]:
    try:
        return await client.get_workflow_handle(monitor_id(agent)).query(
            Query.DECISIONS, result_type=list[KillDecision]
        )
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return []
        raise
