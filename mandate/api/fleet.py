"""The fleet: an agent's pause state, kills and resumes, all through its kill-criteria monitor.

Only a genuine monitor is asked or told anything: a ``MandateMonitor`` run at the agent's monitor id on
Mandate's task queue (``task_queue``; by default the settings' one, ``MANDATE_TASK_QUEUE``, which `mandate
worker` polls). Whoever can start workflows can put a run of the monitor's type at that id on a queue of
their own, with a worker of their own that answers "not paused" and accepts kills: that run is refused in
one line naming it (``MonitorNotGuarding``), never taken for the monitor.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from mandate.api._server import require_worker
from mandate.api.monitors import (
    MONITOR_ENDED,
    MONITOR_IMPOSTOR,
    MONITOR_MISSING,
    MonitorNotGuarding,
    genuine_monitor,
    last_pause,
)
from mandate.contract import MONITOR_WORKFLOW, PAUSE_MEMO, Query, Update, monitor_id
from mandate.decisions import KillRequest
from mandate.errors import DecisionRefusedError, MandateError, NoWorkerAnsweredError
from mandate.outcomes import KillDecision, PauseNotice, PauseState, ResumeInput
from mandate.settings import load_settings
from mandate.signer import Signer

__all__ = [
    "MONITOR_MISSING",
    "MONITOR_ENDED",
    "MONITOR_IMPOSTOR",
    "MonitorNotGuarding",
    "genuine_monitor",
    "monitor_notice",
    "pause_state",
    "pause_notice",
    "last_pause",
    "kill_agent",
    "resume_agent",
    "kill_decisions",
]


async def monitor_notice(client: Client, agent: str, *, task_queue: str | None = None) -> PauseNotice | None:
    """The pause of the agent's genuine monitor, from its memo (one describe, answered by the server);
    ``MonitorNotGuarding`` when there is none.

    A monitor that has not published its pause yet (started before the memo existed, or not past its
    first task) is asked by query, that same run and no other; ``None`` when it is still loading its
    charter with nothing carried, so not paused.
    """
    description = await genuine_monitor(client, agent, task_queue=task_queue)
    notice = await description.memo_value(PAUSE_MEMO, None, type_hint=PauseNotice)
    if notice is not None:
        return notice
    state = await _query_pause(client, agent, description.run_id)
    return PauseNotice.of(state) if state is not None else None


async def _query_pause(client: Client, agent: str, run_id: str | None) -> PauseState | None:
    handle = client.get_workflow_handle(monitor_id(agent), run_id=run_id)
    try:
        return await handle.query(Query.PAUSE_STATE, result_type=PauseState | None)  # type: ignore[arg-type]
    except RPCError as err:
        raise MandateError(
            f"cannot tell whether {agent} is paused ({err.message}); is a worker running?"
        ) from None
    except WorkflowQueryFailedError as err:
        raise MandateError(f"cannot tell whether {agent} is paused: {err}") from None


async def pause_state(client: Client, agent: str, *, task_queue: str | None = None) -> PauseState | None:
    """The agent's pause state from its monitor; ``None`` when no monitor runs for it (none, or ended).

    A run at the monitor's id that is not a ``MandateMonitor`` on ``task_queue`` (default: the settings')
    is refused (``MonitorNotGuarding``), never asked.
    """
    try:
        description = await genuine_monitor(client, agent, task_queue=task_queue)
    except MonitorNotGuarding as problem:
        if problem.alert == MONITOR_IMPOSTOR:
            raise
        return None
    return await _query_pause(client, agent, description.run_id)


async def pause_notice(client: Client, agent: str, *, task_queue: str | None = None) -> PauseNotice | None:
    """Whether the agent's starts are refused, from its monitor's memo: one describe, answered by the server.

    ``None`` when no monitor runs for the agent (a worker that keeps the agent's monitor then refuses the
    start itself: no monitor is no "not paused"). A run at the monitor's id that is not a ``MandateMonitor``
    on ``task_queue`` (default: the settings') is refused in one line (``MonitorNotGuarding``), never taken
    for the monitor.
    """
    try:
        return await monitor_notice(client, agent, task_queue=task_queue)
    except MonitorNotGuarding as problem:
        if problem.alert == MONITOR_IMPOSTOR:
            raise
        return None


async def _monitor_update(
    client: Client, agent: str, name: str, arg: Any, result_type: type, timeout: float, task_queue: str | None
) -> Any:
    description = await genuine_monitor(client, agent, task_queue=task_queue)
    await require_worker(client, description.task_queue)
    # The chain that was just checked, and no other: an update sent after someone swapped the run at the
    # id fails instead of reaching the newcomer (a continue-as-new keeps the chain).
    first_run = description.raw_description.workflow_execution_info.first_run_id or None
    handle = client.get_workflow_handle(monitor_id(agent), first_execution_run_id=first_run)
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
    task_queue: str | None = None,
) -> KillDecision:
    """The stop/go owner stops the agent's fleet (pause + cancel or roll back), or one run of it.

    Sent only to the agent's genuine monitor (a ``MandateMonitor`` on ``task_queue``, default the settings').
    """
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
        task_queue,
    )


async def resume_agent(
    client: Client, agent: str, *, by: str, reason: str, timeout: float = 30, task_queue: str | None = None
) -> PauseState:
    """The stop/go owner lifts a stop; the monitor then judges only runs started from now on."""
    statement = Signer.of(by).resume(namespace=client.namespace, agent=agent, reason=reason)
    return await _monitor_update(
        client,
        agent,
        Update.RESUME,
        ResumeInput(by=by, reason=reason, statement=statement),
        PauseState,
        timeout,
        task_queue,
    )


async def kill_decisions(client: Client, agent: str, *, task_queue: str | None = None) -> list[KillDecision]:
    """Every kill and resume the agent's monitor has kept, newest last; none when it has no monitor.

    An ended monitor is still asked (its worker replays it); a run at the id that is not a
    ``MandateMonitor`` on ``task_queue`` is refused (``MonitorNotGuarding``).
    """
    queue = task_queue or load_settings().task_queue
    try:
        description = await genuine_monitor(client, agent, task_queue=queue)
    except MonitorNotGuarding as problem:
        if problem.alert != MONITOR_ENDED:
            if problem.alert == MONITOR_IMPOSTOR:
                raise
            return []
        description = await client.get_workflow_handle(monitor_id(agent)).describe()
        if description.workflow_type != MONITOR_WORKFLOW or description.task_queue != queue:
            return []  # what ended there was no monitor of ours
    return await client.get_workflow_handle(monitor_id(agent), run_id=description.run_id).query(
        Query.DECISIONS, result_type=list[KillDecision]
    )
