"""Which run is an agent's monitor: the genuine one, and the pause an ended one last held.

Only a ``MandateMonitor`` run at the agent's monitor id on Mandate's task queue is the monitor. Whoever can
start workflows can put a run of the monitor's type at that id on a queue of their own, with a worker of
their own that answers "not paused" and accepts kills: that run is refused in one line naming it
(``MonitorNotGuarding``), never taken for the monitor. An ended monitor's pause is read from what its own
code wrote in its history, never from a memo given at start.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from mandate.api._server import quote
from mandate.contract import MONITOR, MONITOR_WORKFLOW, PAUSE_MEMO, monitor_id
from mandate.errors import MandateError
from mandate.outcomes import KillDecision, PauseNotice, PauseState
from mandate.settings import load_settings

__all__ = [
    "MONITOR_MISSING",
    "MONITOR_ENDED",
    "MONITOR_IMPOSTOR",
    "MonitorNotGuarding",
    "genuine_monitor",
    "last_pause",
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
