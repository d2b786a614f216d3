"""What a run costs the server in history: events, bytes, the load_mandate marker, visibility writes.

Read from finished runs' histories (``fetch_history``), averaged over the runs given. The server's
CPU per run follows these: each event is persisted, each workflow task is a round trip to a worker,
and each visibility write updates the run's record in the visibility store.

Visibility writes are counted as the run asks for them: the record written when the run starts (a
governed run starts with its search attributes, as ``mandate start`` starts it), one per
``UpsertWorkflowSearchAttributes`` event, and the record written when the run closes. The server may
write more of its own (none are counted here).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from benchmarks.probes import r
from mandate.activities.started_runs import load_mandate_result

__all__ = ["history_cost"]


def _name(event: Any) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def history_cost(client: Client, workflow_ids: list[str]) -> dict[str, Any]:
    """Per run, the mean over ``workflow_ids``."""
    kinds: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    marker_events: list[int] = []
    marker_payloads: list[int] = []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            name = _name(event)
            kinds[name] += 1
            sizes[name] += event.ByteSize()
            if name == "MARKER_RECORDED" and load_mandate_result(event) is not None:
                marker_events.append(event.ByteSize())
                details = event.marker_recorded_event_attributes.details
                marker_payloads.append(sum(payloads.ByteSize() for payloads in details.values()))
    n = len(workflow_ids) or 1

    def per_run(name: str) -> float | None:
        return r(kinds[name] / n, 1)

    upserts = kinds["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"] / n
    return {
        "runs": len(workflow_ids),
        "events": r(sum(kinds.values()) / n, 1),
        "history_bytes": r(sum(sizes.values()) / n, 0),
        "workflow_tasks": per_run("WORKFLOW_TASK_COMPLETED"),
        "activities": per_run("ACTIVITY_TASK_SCHEDULED"),
        "markers": per_run("MARKER_RECORDED"),
        "timers": per_run("TIMER_STARTED"),
        "signals": per_run("WORKFLOW_EXECUTION_SIGNALED"),
        "updates": per_run("WORKFLOW_EXECUTION_UPDATE_ACCEPTED"),
        "search_attribute_upserts": r(upserts, 1),
        "visibility_writes": r(2 + upserts, 1),  # start record + upserts + close record
        "start_event_bytes": r(sizes["WORKFLOW_EXECUTION_STARTED"] / n, 0),
        "load_mandate_marker_bytes": r(sum(marker_events) / len(marker_events), 0) if marker_events else 0,
        "load_mandate_payload_bytes": r(sum(marker_payloads) / len(marker_payloads), 0) if marker_payloads else 0,
        "by_type": {k: r(v / n, 1) for k, v in sorted(kinds.items())},
        "bytes_by_type": {k: r(v / n, 0) for k, v in sorted(sizes.items())},
    }
