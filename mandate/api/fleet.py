"""The fleet: an agent's pause state, kills and resumes, all through its kill-criteria monitor.

Only a genuine monitor is asked or told anything: a ``MandateMonitor`` run at the agent's monitor id on
Mandate's task queue (``task_queue``; by default the settings' one, ``MANDATE_TASK_QUEUE``, which `mandate
worker` polls). Whoever can start workflows can put a run of the monitor's type at that id on a queue of
their own, with a worker of their own that answers "not paused" and accepts kills: that run is refused in
one line naming it (``MonitorNotGuarding``), never taken for the monitor.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mandate.api._server import quote, require_worker
from mandate.contract import MONITOR, MONITOR_WORKFLOW, PAUSE_MEMO, Query, Update, monitor_id
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

#: Why no monitor guards an agent; also the name of the error-level log event the worker raises as an alert.
MONITOR_MISSING = "monitor_missing"
MONITOR_ENDED = "monitor_ended"
MONITOR_IMPOSTOR = "monitor_impostor"


class MonitorNotGuarding(MandateError):
    """No genuine monitor holds the agent's pause: none runs at its id (``monitor_missing``), the one there
    has ended (``monitor_ended``), or the run there is not a ``MandateMonitor`` on Mandate's task queue
    (``monitor_impostor``). The message says which, and how to fix it, on one line."""

    def __init__(self, message: str, *, alert: str, agent: str, workflow_id: str) -> None:
        super().__init__(message)
        self.alert = alert
        self.agent = agent
        self.workflow_id = workflow_id


def _shown(text: str, limit: int = 120) -> str:
    """A name someone else chose (a workflow type, a task queue), printable on one line."""
    cleaned = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


async def genuine_monitor(
    client: Client, agent: str, *, task_queue: str | None = None
) -> WorkflowExecutionDescription:
    """The agent's monitor as Temporal describes it, if it runs, is a ``MandateMonitor`` and is on
    ``task_queue`` (default: the settings' task queue); ``MonitorNotGuarding`` otherwise."""
    queue = task_queue or load_settings().task_queue
    workflow_id = monitor_id(agent)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise MonitorNotGuarding(
                f"no kill-criteria monitor runs for {agent} (no workflow {workflow_id!r}); "
                "`mandate worker` starts it",
                alert=MONITOR_MISSING,
                agent=agent,
                workflow_id=workflow_id,
            ) from None
        raise MandateError(f"cannot reach the monitor of {agent} ({err.message})") from None
    if description.status is not WorkflowExecutionStatus.RUNNING:
        raise MonitorNotGuarding(
            f"the kill-criteria monitor of {agent} ({workflow_id}) has ended ({_status(description.status)}), so "
            "nothing holds its pause; restart `mandate worker`, which starts it again with the pause it last held",
            alert=MONITOR_ENDED,
            agent=agent,
            workflow_id=workflow_id,
        )
    if description.workflow_type != MONITOR_WORKFLOW:
        raise MonitorNotGuarding(
            f"{workflow_id} is a {_shown(description.workflow_type)} run, not a {MONITOR_WORKFLOW}: not the "
            f"monitor of {agent}; terminate it and restart `mandate worker`, which starts the monitor",
            alert=MONITOR_IMPOSTOR,
            agent=agent,
            workflow_id=workflow_id,
        )
    if description.task_queue != queue:
        raise MonitorNotGuarding(
            f"{workflow_id} is a {MONITOR_WORKFLOW} on task queue {_shown(description.task_queue)!r}, not "
            f"Mandate's {queue!r}: an impostor, answered by a worker that is not Mandate's; terminate it "
            f"(`temporal workflow terminate --workflow-id {workflow_id}`) and restart `mandate worker`",
            alert=MONITOR_IMPOSTOR,
            agent=agent,
            workflow_id=workflow_id,
        )
    return description


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


async def last_pause(client: Client, agent: str, *, task_queue: str) -> PauseState | None:
    """The pause the agent's monitor last published before it ended, to carry into a new monitor.

    Read from the history of the newest ended ``MandateMonitor`` run at the monitor's id on ``task_queue``:
    the memo that run's own code wrote (a memo given at start, by whoever started it, is not taken). ``None``
    when no such run paused the agent. The carried decision has no statement, so the new monitor shows it
    unverified (``check_carried``); the stop/go owner's signed resume lifts it as any pause.
    """
    workflow_id = monitor_id(agent)
    runs: list[tuple[datetime, str, str]] = []  # (closed at, run id, status)
    latest: WorkflowExecutionDescription | None = None
    try:
        latest = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:  # deleted: the runs before it may still be kept
            raise
    if (
        latest is not None
        and latest.status is not WorkflowExecutionStatus.RUNNING
        and latest.workflow_type == MONITOR_WORKFLOW
        and latest.task_queue == task_queue
    ):
        runs.append((latest.close_time or datetime.now(UTC), latest.run_id, _status(latest.status)))
    query = (
        f"WorkflowId = '{quote(workflow_id)}' AND WorkflowType = '{MONITOR_WORKFLOW}' "
        f"AND TaskQueue = '{quote(task_queue)}' AND ExecutionStatus != 'Running'"
    )
    async for run in client.list_workflows(query, limit=20):
        if (latest is None or run.run_id != latest.run_id) and run.close_time is not None:
            runs.append((run.close_time, run.run_id, _status(run.status)))
    for closed_at, run_id, status in sorted(runs, reverse=True):
        notice = await _published_pause(client, workflow_id, run_id)
        if notice is None:
            continue  # ended before its code published anything: look at the run before
        if not notice.paused:
            return None
        carried = KillDecision(
            at=closed_at,
            agent=agent,
            by=notice.by or MONITOR,
            reason=f"{notice.reason or 'stopped'} (carried over from the monitor run that ended {status})",
            action="pause",
        )
        return PauseState(agent=agent, paused=True, stop_go_owner=notice.stop_go_owner, decision=carried)
    return None


def _status(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status else "closed"


async def _published_pause(client: Client, workflow_id: str, run_id: str) -> PauseNotice | None:
    """The last pause a monitor run's code wrote to its memo (an upsert in its history), or None."""
    last = None
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            fields = event.workflow_properties_modified_event_attributes.upserted_memo.fields
            if PAUSE_MEMO in fields:
                last = fields[PAUSE_MEMO]
    if last is None:
        return None
    (notice,) = await client.data_converter.decode([last], [PauseNotice])
    return notice if isinstance(notice, PauseNotice) else PauseNotice.model_validate(notice)


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
