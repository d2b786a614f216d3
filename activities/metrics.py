"""The monitor's activities: compute outcome metrics from visibility, and enforce a kill on running runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa
from mandate.contract import ENFORCE_ACTIVITY, EVALUATE_ACTIVITY, RunFlag, Signal
from mandate.decisions import KillInput
from mandate.outcomes import EnforceInput, EnforceResult, MetricsQuery, OutcomeMetrics

__all__ = ["compute_metrics", "MonitorActivities"]

_CLOSED_BAD = "('Failed', 'Terminated', 'TimedOut', 'Canceled')"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def compute_metrics(
    client: Client, query: MetricsQuery, *, now: datetime | None = None
) -> OutcomeMetrics:
    """Count runs by status and flag with visibility count queries; sum cost from search attributes."""
    end = now or datetime.now(UTC)
    start = end - timedelta(seconds=query.window_seconds)
    if query.since and query.since > start:
        start = query.since
    base = f"{sa.AGENT.name} = '{_quote(query.agent)}' AND StartTime >= '{_iso(start)}' AND StartTime <= '{_iso(end)}'"

    async def count(extra: str = "") -> int:
        return (await client.count_workflows(f"{base} AND {extra}" if extra else base)).count

    flags = sa.FLAGS.name
    runs, completed, failed, running, rework, exceptions, escalated = await asyncio.gather(
        count(),
        count("ExecutionStatus = 'Completed'"),
        count(f"ExecutionStatus IN {_CLOSED_BAD}"),
        count("ExecutionStatus = 'Running'"),
        count(f"{flags} = '{RunFlag.REWORK}'"),
        count(f"(ExecutionStatus IN {_CLOSED_BAD} OR {flags} IN ('{RunFlag.VIOLATION}', '{RunFlag.TOOL_ERROR}', '{RunFlag.KILLED}'))"),
        count(f"{flags} = '{RunFlag.ESCALATED}'"),
    )
    total_cost = 0.0
    async for wf in client.list_workflows(f"{base} AND {sa.COST.name} > 0"):
        total_cost += wf.typed_search_attributes.get(sa.COST) or 0.0
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
        escalated_runs=escalated,
        total_cost=round(total_cost, 6),
        throughput_per_hour=round(completed / hours, 4),
        rework_rate=share(rework),
        exception_rate=share(exceptions),
        escalation_rate=share(escalated),
        cost_per_completed=round(total_cost / completed, 6) if completed else 0.0,
    )


class MonitorActivities:
    """Activities that need a client: bound to the worker's."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=EVALUATE_ACTIVITY)
    async def compute(self, query: MetricsQuery) -> OutcomeMetrics:
        return await compute_metrics(self._client, query)

    @activity.defn(name=ENFORCE_ACTIVITY)
    async def enforce(self, order: EnforceInput) -> EnforceResult:
        """Tell every running run of the agent (or one run) to stop, and to roll back if asked."""
        if order.action == "pause":
            return EnforceResult(workflows=[])
        if order.workflow:
            targets = [order.workflow]
        else:
            query = f"{sa.AGENT.name} = '{_quote(order.agent)}' AND ExecutionStatus = 'Running'"
            targets = [wf.id async for wf in self._client.list_workflows(query)]
        gate = asyncio.Semaphore(50)
        kill = KillInput(by=order.by, reason=order.reason, rollback=order.action == "rollback")

        async def stop(workflow_id: str) -> str | None:
            handle = self._client.get_workflow_handle(workflow_id)
            async with gate:
                try:
                    await handle.signal(Signal.KILL, kill)
                except RPCError as err:
                    if err.status is RPCStatusCode.NOT_FOUND:
                        return None  # it ended since the list was read
                    raise
            activity.heartbeat(workflow_id)
            return workflow_id

        touched = await asyncio.gather(*(stop(w) for w in targets))
        return EnforceResult(workflows=sorted(w for w in touched if w))
