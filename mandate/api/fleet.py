"""The fleet: an agent's pause state, kills and resumes, all through its kill-criteria monitor."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mandate.api._server import describe, require_worker
from mandate.contract import MONITOR_WORKFLOW, PAUSE_MEMO, Query, Update, monitor_id
from mandate.decisions import KillRequest
from mandate.errors import DecisionRefusedError, MandateError, NoWorkerAnsweredError
from mandate.outcomes import KillDecision, PauseNotice, PauseState, ResumeInput
from mandate.signer import Signer

__all__ = ["pause_state", "pause_notice", "kill_agent", "resume_agent", "kill_decisions"]


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


async def pause_notice(client: Client, agent: str) -> PauseNotice | None:
    """Whether the agent's starts are refused, from its monitor's memo: one describe, answered by the server.

    ``None`` when no monitor runs for the agent. A monitor that has not published its pause yet (started
    before the memo existed, or not past its first task) is asked by query. A workflow at the monitor's
    id that is not a monitor is refused in one line, never taken for one.
    """
    handle = client.get_workflow_handle(monitor_id(agent))
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise MandateError(f"cannot tell whether {agent} is paused ({err.message})") from None
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return None  # ended by an operator: nobody guards the agent
    if description.workflow_type != MONITOR_WORKFLOW:
        raise MandateError(
            f"cannot tell whether {agent} is paused: {handle.id} is a {description.workflow_type} run, "
            f"not a {MONITOR_WORKFLOW}"
        )
    notice = await description.memo_value(PAUSE_MEMO, None, type_hint=PauseNotice)
    if notice is not None:
        return notice
    state = await pause_state(client, agent)
    return PauseNotice.of(state) if state is not None else None


async def _monitor_update(
    client: Client, agent: str, name: str, arg: Any, result_type: type, timeout: float
) -> Any:
    handle = client.get_workflow_handle(monitor_id(agent))
    description = await describe(handle)
    await require_worker(client, description.task_queue)
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
    statement = Signer.of(by).kill(
        namespace=client.namespace, agent=agent, workflow_id=workflow_id or "", rollback=rollback, reason=reason
    )
    return await _monitor_update(
        client,
        agent,
        Update.KILL,
        KillRequest(by=by, reason=reason, rollback=rollback, workflow=workflow_id, statement=statement),
        KillDecision,
        timeout,
    )


async def resume_agent(
    client: Client, agent: str, *, by: str, reason: str, timeout: float = 30
) -> PauseState:
    """The stop/go owner lifts a stop; the monitor then judges only runs started from now on."""
    statement = Signer.of(by).resume(namespace=client.namespace, agent=agent, reason=reason)
    return await _monitor_update(
        client, agent, Update.RESUME, ResumeInput(by=by, reason=reason, statement=statement), PauseState, timeout
    )


async def kill_decisions(client: Client, agent: str) -> list[KillDecision]:
    """Every kill and resume the agent's monitor has kept, newest last; none when it has no monitor."""
    try:
        return await client.get_workflow_handle(monitor_id(agent)).query(
            Query.DECISIONS, result_type=list[KillDecision]
        )
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return []
        raise
