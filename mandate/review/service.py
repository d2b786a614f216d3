"""Incident review against a server: fetch a run's history and the monitor's evidence; replay many runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa
from mandate.errors import MandateError
from mandate.review.replay import replay_history

__all__ = ["fetch_history", "kill_evidence", "BulkReplay", "replay_recent"]


async def fetch_history(client: Client, workflow_id: str) -> WorkflowHistory:
    try:
        return await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise MandateError(f"no workflow with id {workflow_id!r}") from None
        raise


async def kill_evidence(client: Client, agent: str, workflow_id: str) -> list[dict[str, Any]]:
    """The monitor's decisions that touched this run, with their metrics and thresholds."""
    from mandate.api import kill_decisions

    try:
        decisions = await kill_decisions(client, agent)
    except Exception:  # noqa: BLE001  (evidence is a bonus: the report stands without it)
        return []
    found = []
    for d in decisions:
        if workflow_id in d.workflows or d.workflow == workflow_id:
            item: dict[str, Any] = {
                "at": d.at.isoformat(),
                "by": d.by,
                "action": d.action,
                "reason": d.reason,
            }
            if d.evaluation is not None:
                m = d.evaluation.metrics
                item["metrics"] = {
                    k: getattr(m, k)
                    for k in (
                        "runs",
                        "throughput_per_hour",
                        "rework_rate",
                        "exception_rate",
                        "escalation_rate",
                        "cost_per_completed",
                    )
                }
                item["thresholds"] = d.evaluation.thresholds
                item["breaches"] = [b.model_dump() for b in d.evaluation.breaches]
            item["runs_touched"] = len(d.workflows)
            found.append(item)
    return found


@dataclass
class BulkReplay:
    agent: str
    since: datetime
    replayed: int = 0
    clean: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: The SDK's own text of each failure, by workflow id (``--verbose``).
    details: dict[str, str] = field(default_factory=dict)


async def replay_recent(
    client: Client, agent: str, since: timedelta, workflows: Sequence[type], limit: int = 1000, verbose: bool = False
) -> BulkReplay:
    """Replay every closed run of ``agent`` that closed within ``since``: is a code change safe to deploy?"""
    start = datetime.now(UTC) - since
    query = (
        f"{sa.AGENT.name} = '{agent}' AND ExecutionStatus != 'Running' "
        f"AND CloseTime >= '{start.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    )
    summary = BulkReplay(agent=agent, since=start)
    async for wf in client.list_workflows(query, limit=limit):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        summary.replayed += 1
        try:
            outcome = await replay_history(history, workflows, verbose=verbose)
        except MandateError as err:  # a run of a workflow no agent loaded here defines
            summary.failures.append((wf.id, str(err)))
            continue
        if outcome.reproduced:
            summary.clean += 1
        else:
            summary.failures.append((wf.id, outcome.failure or "unknown failure"))
            summary.details[wf.id] = outcome.detail or ""
    return summary
