"""What only the history knows: how Temporal closed the run, who sent each message, how many attempts
each activity took."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter

__all__ = ["Message", "ENDED_BY_TEMPORAL", "closed", "when", "decoded", "messages", "activity_attempts"]

_CLOSE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued as new",
}

#: Close statuses that end a run whatever its own state said: its code did not finish it.
ENDED_BY_TEMPORAL = ("failed", "canceled", "terminated", "timed out")


class Message(BaseModel):
    """A signal or update the run received, as the history recorded it."""

    at: datetime
    kind: str  # signal | update
    name: str
    identity: str
    payload: str
    update_id: str | None = None


def when(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


def closed(events: list[HistoryEvent]) -> tuple[datetime | None, str]:
    """When and how Temporal closed the run (its close event); ``(None, "running")`` while it is open."""
    for e in reversed(events):
        if e.event_type in _CLOSE:
            return when(e), _CLOSE[EventType.ValueType(e.event_type)]
    return None, "running"


def _payload_text(payloads: Any) -> str:
    items = list(payloads.payloads) if payloads is not None else []
    if not items:
        return "(none)"
    try:
        values = pydantic_data_converter.payload_converter.from_payloads(items)
        text = json.dumps(values[0] if len(values) == 1 else values, ensure_ascii=False, default=str)
    except Exception:  # noqa: BLE001  (an undecodable payload is itself evidence)
        text = "(undecodable payload)"
    return text if len(text) <= 300 else text[:299] + "…"


def decoded(payloads: Any) -> Any:
    try:
        return pydantic_data_converter.payload_converter.from_payloads(list(payloads.payloads))[0]
    except Exception:  # noqa: BLE001
        return None


def messages(events: list[HistoryEvent]) -> list[Message]:
    out = []
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            a = e.workflow_execution_signaled_event_attributes
            out.append(
                Message(
                    at=when(e),
                    kind="signal",
                    name=a.signal_name,
                    identity=a.identity,
                    payload=_payload_text(a.input),
                )
            )
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            req = e.workflow_execution_update_accepted_event_attributes.accepted_request
            out.append(
                Message(
                    at=when(e),
                    kind="update",
                    name=req.input.name,
                    identity=req.meta.identity,
                    payload=_payload_text(req.input.args),
                    update_id=req.meta.update_id,
                )
            )
    return out


def activity_attempts(events: list[HistoryEvent]) -> list[tuple[str, int]]:
    """(activity type, attempts) for each scheduled activity, in order."""
    scheduled: dict[int, str] = {}
    attempts: dict[int, int] = {}
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            attempts[a.scheduled_event_id] = a.attempt
    return [(name, attempts.get(eid, 0)) for eid, name in sorted(scheduled.items())]
