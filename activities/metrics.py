"""The monitor's activities: compute outcome metrics from visibility, and enforce a kill on running runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa
from mandate.activities.cost_ledger import CostLedger, visibility_time
from mandate.activities.kill_orders import kill_by_update, monitor_signer, one_run
from mandate.activities.started_runs import StartedRuns, run_key
from mandate.contract import (
    ENFORCE_ACTIVITY,
    EVALUATE_ACTIVITY,
    MONITOR,
    MONITOR_WORKFLOW,
    RunFlag,
    Signal,
    monitor_id,
)
from mandate.decisions import KillInput
from mandate.outcomes import EnforceInput, EnforceResult, MetricsQuery, OutcomeMetrics

__all__ = ["compute_metrics", "MonitorActivities"]


def _in(flags: Iterable[RunFlag]) -> str:
    """A visibility query's ``IN`` list of flags."""
    return "(" + ", ".join(f"'{flag}'" for flag in flags) + ")"


#: How a run ends badly: Temporal's status, and its name in a visibility query.
_BAD_ENDS = {
    WorkflowExecutionStatus.FAILED: "Failed",
    WorkflowExecutionStatus.TERMINATED: "Terminated",
    WorkflowExecutionStatus.TIMED_OUT: "TimedOut",
    WorkflowExecutionStatus.CANCELED: "Canceled",
}
_BAD_STATUSES = set(_BAD_ENDS)
_CLOSED_BAD = "(" + ", ".join(f"'{name}'" for name in _BAD_ENDS.values()) + ")"
_EXCEPTION_FLAGS = (RunFlag.VIOLATION, RunFlag.TOOL_ERROR, RunFlag.KILLED)
#: What each exception is called where the metrics say what they counted.
_CAUSES: dict[Any, str] = {status: name.replace("TimedOut", "timed out").lower() for status, name in _BAD_ENDS.items()}
_CAUSES |= {RunFlag.KILLED: "killed", RunFlag.VIOLATION: "policy violation", RunFlag.TOOL_ERROR: "tool error"}
#: The runs that could change a count in the kill criteria's direction: ended badly, or flagged.
_SUSPECT = f"(ExecutionStatus IN {_CLOSED_BAD} OR {sa.FLAGS.name} IN {_in(RunFlag)})"


def _runs_of(agent: str, workflow_type: str | None, task_queue: str | None) -> str:
    """The visibility filter for an agent's runs: by its workflow type and task queue when known."""
    where = f"{sa.AGENT.name} = '{_quote(agent)}'"
    if workflow_type:
        where += f" AND WorkflowType = '{_quote(workflow_type)}'"
    if task_queue:
        where += f" AND TaskQueue = '{_quote(task_queue)}'"
    return where


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def _count_by_status(
    client: Client, base: str, count: Callable[[str], Awaitable[int]]
) -> tuple[int, int, int, int]:
    """Runs, completed, ended badly and running, from one ``GROUP BY ExecutionStatus`` count (one pass over
    the window, the four numbers consistent with each other); four counts on a server without it."""
    try:
        grouped = await client.count_workflows(f"{base} GROUP BY ExecutionStatus")
    except RPCError as err:
        if err.status is not RPCStatusCode.INVALID_ARGUMENT:
            raise
        runs, completed, failed, running = await asyncio.gather(
            count(""),
            count("ExecutionStatus = 'Completed'"),
            count(f"ExecutionStatus IN {_CLOSED_BAD}"),
            count("ExecutionStatus = 'Running'"),
        )
        return runs, completed, failed, running
    by = {str(group.group_values[0]): group.count for group in grouped.groups if group.group_values}
    bad = sum(by.get(name, 0) for name in _BAD_ENDS.values())
    return grouped.count, by.get("Completed", 0), bad, by.get("Running", 0)


async def compute_metrics(
    client: Client,
    query: MetricsQuery,
    *,
    now: datetime | None = None,
    started: StartedRuns | None = None,
    costs: CostLedger | None = None,
) -> OutcomeMetrics:
    """Count runs by status and flag with visibility count queries; sum cost from search attributes.

    Runs that ended badly or carry a flag are counted only if a worker verified their start (``started``
    remembers the answers between checks); the others are reported as ``unverified_runs``, and their cost
    (a search attribute their starter wrote) is not added either. ``costs`` keeps closed runs' costs
    between checks, so that a check reads only what changed.
    """
    end = now or datetime.now(UTC)
    start = end - timedelta(seconds=query.window_seconds)
    if query.since and query.since > start:
        start = query.since
    runs_filter = _runs_of(query.agent, query.workflow_type, query.task_queue)
    base = f"{runs_filter} AND StartTime >= '{visibility_time(start)}' AND StartTime <= '{visibility_time(end)}'"

    async def count(extra: str = "") -> int:
        return (await client.count_workflows(f"{base} AND {extra}" if extra else base)).count

    flags = sa.FLAGS.name
    statuses, rework, exceptions, escalated = await asyncio.gather(
        _count_by_status(client, base, count),
        count(f"{flags} = '{RunFlag.REWORK}'"),
        count(f"(ExecutionStatus IN {_CLOSED_BAD} OR {flags} IN {_in(_EXCEPTION_FLAGS)})"),
        count(f"{flags} = '{RunFlag.ESCALATED}'"),
    )
    runs, completed, failed, running = statuses
    # Runs whose start no worker verified (refused, or never seen by a worker) are not counted at all.
    suspects = [wf async for wf in client.list_workflows(f"{base} AND {_SUSPECT}")]
    unverified = await (started or StartedRuns(client)).unverified(suspects)
    for wf in unverified:
        flagged = set(wf.typed_search_attributes.get(sa.FLAGS) or [])
        status = wf.status
        runs -= 1
        completed -= status is WorkflowExecutionStatus.COMPLETED
        failed -= status in _BAD_STATUSES
        running -= status is WorkflowExecutionStatus.RUNNING
        rework -= RunFlag.REWORK in flagged
        exceptions -= status in _BAD_STATUSES or not flagged.isdisjoint(_EXCEPTION_FLAGS)
        escalated -= RunFlag.ESCALATED in flagged
    causes = [c for wf in suspects if wf not in unverified for c in _causes_of(wf)]
    cost_of = await (costs or CostLedger(client)).total(runs_filter, start, end)
    for wf in unverified:
        cost_of.pop(run_key(wf), None)
    total_cost = sum(cost_of.values())
    hours = max((end - start).total_seconds() / 3600, 1e-9)

    def share(n: int) -> float:
        return round(n / runs, 4) if runs else 0.0

    return OutcomeMetrics(
        agent=query.agent,
        window_start=start,
        window_end=end,
        runs=runs,
        completed=completed,
        failed=failed,
        running=running,
        rework_runs=rework,
        exception_runs=exceptions,
        exception_causes={name: causes.count(name) for name in _CAUSES.values() if name in causes},
        escalated_runs=escalated,
        unverified_runs=len(unverified),
        total_cost=round(total_cost, 6),
        throughput_per_hour=round(completed / hours, 4),
        rework_rate=share(rework),
        exception_rate=share(exceptions),
        escalation_rate=share(escalated),
        cost_per_completed=round(total_cost / completed, 6) if completed else 0.0,
    )


def _causes_of(wf: Any) -> list[str]:
    """Why a run counts as an exception: how it ended badly, and its flags (none: it is not one)."""
    flagged = set(wf.typed_search_attributes.get(sa.FLAGS) or [])
    return [name for cause, name in _CAUSES.items() if cause == wf.status or cause in flagged]


class CallerCheck(Protocol):
    """``mandate.worker.callers.Callers``: the server's record of the run that scheduled a call."""

    async def require(self, info: activity.Info, *, types: Collection[str], what: str, workflow_id: str | None = None) -> Any: ...


class MonitorActivities:
    """The monitor's activities, bound to the worker's client, and run only for the monitor of an agent
    the worker serves, on its own task queue: a workflow of anyone else's that calls them is refused
    (``callers``), since one of them signs with the monitor's service key."""

    def __init__(self, client: Client, *, agents: Collection[str] = (), callers: CallerCheck | None = None) -> None:
        self._client = client
        self._agents = set(agents)
        self._callers = callers
        self._started = StartedRuns(client)
        self._costs = CostLedger(client)

    async def _require_monitor(self, agent: str, what: str) -> None:
        if self._callers is None:  # a worker built without a client of its own (tests of the metrics)
            return
        if agent not in self._agents:
            raise ApplicationError(f"this worker serves no agent named {agent!r}", type="CallerRefused", non_retryable=True)
        await self._callers.require(activity.info(), types={MONITOR_WORKFLOW}, what=what, workflow_id=monitor_id(agent))

    @activity.defn(name=EVALUATE_ACTIVITY)
    async def compute(self, query: MetricsQuery) -> OutcomeMetrics:
        await self._require_monitor(query.agent, EVALUATE_ACTIVITY)
        return await compute_metrics(self._client, query, started=self._started, costs=self._costs)

    @activity.defn(name=ENFORCE_ACTIVITY)
    async def enforce(self, order: EnforceInput) -> EnforceResult:
        """Tell every running run of the agent (or one run) to stop, and to roll back if asked.

        Each run gets a kill of its own, signed here with the monitor's service key and bound to that run
        (its workflow id and run id), with the stop/go owner's order as evidence when there is one: a copy
        of it stops no other run, and nothing signed goes back to the caller. A run whose signals the
        server refuses (used up by a flood, say) gets the same order as its ``kill`` update; a run neither
        reaches is named in the result, never retried without end.
        """
        await self._require_monitor(order.agent, ENFORCE_ACTIVITY)
        if order.action == "pause":
            return EnforceResult(workflows=[])
        if order.workflow:
            targets, unreachable = await one_run(self._client, order)
        else:
            query = f"{_runs_of(order.agent, order.workflow_type, order.task_queue)} AND ExecutionStatus = 'Running'"
            targets, unreachable = [(wf.id, wf.run_id) async for wf in self._client.list_workflows(query)], []
        signer = monitor_signer()
        if signer is None:
            why = f"this worker holds no signing key for {MONITOR}, so it cannot sign the run's kill"
            return EnforceResult(workflows=[], unreachable=sorted(f"{w}: {why}" for w, _ in targets))
        gate = asyncio.Semaphore(50)
        namespace = activity.info().workflow_namespace or ""

        async def stop(target: tuple[str, str | None]) -> str | None:
            workflow_id, run_id = target
            statement = signer.kill(
                namespace=namespace,
                agent=order.agent,
                workflow_id=workflow_id,
                run_id=run_id or "",
                rollback=order.action == "rollback",
                reason=order.reason,
            )
            kill = KillInput(
                by=order.by, reason=order.reason, rollback=order.action == "rollback", statement=statement, order=order.statement
            )
            handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
            async with gate:
                try:
                    await asyncio.wait_for(handle.signal(Signal.KILL, kill), timeout=30)
                except RPCError as err:
                    if err.status is RPCStatusCode.NOT_FOUND:  # it ended since the list was read
                        return None
                    # Refused by the server (its signals used up by a flood, say): the update still reaches it.
                    why = await kill_by_update(handle, kill)
                    if why is not None:
                        unreachable.append(f"{workflow_id}: {err.message}; {why}"[:300])
                        return None
                except TimeoutError:
                    unreachable.append(f"{workflow_id}: no answer from the server in 30 s")
                    return None
            activity.heartbeat(workflow_id)
            return workflow_id

        touched = await asyncio.gather(*(stop(t) for t in targets))
        return EnforceResult(workflows=sorted(w for w in touched if w), signed=True, unreachable=sorted(unreachable))
