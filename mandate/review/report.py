"""The incident report: the replayed state of a run, joined with what only the history knows
(who sent each message, when, how many attempts each tool took)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from mandate.charter import Charter
from mandate.decisions import KillRecord, RefusedDecision
from mandate.review.replay import ReplayOutcome
from mandate.run import Compensation

__all__ = ["IncidentReport", "TimelineEntry", "ApprovalEntry", "Message", "build_report"]


class Message(BaseModel):
    """A signal or update the run received, as the history recorded it."""

    at: datetime
    kind: str  # signal | update
    name: str
    identity: str
    payload: str
    update_id: str | None = None


class TimelineEntry(BaseModel):
    index: int
    tool: str
    authority: str
    policy: str
    status: str
    why: str
    args: dict[str, Any]
    result: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    attempts: int | None
    request_id: str | None


class ApprovalEntry(BaseModel):
    request_id: str
    tool: str
    args: dict[str, Any]
    args_hash: str
    approvers: list[str]
    escalated: bool
    requested_at: datetime
    status: str
    decided_by: str | None = None
    channel: str | None = None
    sender_identity: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


class IncidentReport(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    agent: str | None
    reproduced: bool
    replay_failure: str | None
    started_at: datetime
    started_by_identity: str
    closed_at: datetime | None
    close_status: str
    requested_by: str | None
    input: dict[str, Any]
    state: str | None
    outcome: str | None
    summary: str | None
    charter: Charter | None
    timeline: list[TimelineEntry]
    approvals: list[ApprovalEntry]
    refused: list[RefusedDecision]
    refused_total: int
    violations: list[TimelineEntry]
    escalations: int
    killed: KillRecord | None
    kill_identity: str | None
    kill_evidence: list[dict[str, Any]]
    compensations: list[Compensation]
    compensation_attempts: dict[int, int]
    messages: list[Message]
    cost: float
    events: int


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


def _decoded(payloads: Any) -> Any:
    try:
        return pydantic_data_converter.payload_converter.from_payloads(list(payloads.payloads))[0]
    except Exception:  # noqa: BLE001
        return None


_CLOSE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued as new",
}


def _when(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


def _messages(events: list[HistoryEvent]) -> list[Message]:
    out = []
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            a = e.workflow_execution_signaled_event_attributes
            out.append(
                Message(
                    at=_when(e),
                    kind="signal",
                    name=a.signal_name,
                    identity=a.identity,
                    payload=_payload_text(a.input),
                )
            )
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted = e.workflow_execution_update_accepted_event_attributes
            req = accepted.accepted_request
            out.append(
                Message(
                    at=_when(e),
                    kind="update",
                    name=req.input.name,
                    identity=req.meta.identity,
                    payload=_payload_text(req.input.args),
                    update_id=req.meta.update_id,
                )
            )
    return out


def _activity_attempts(events: list[HistoryEvent]) -> list[tuple[str, int]]:
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


def build_report(
    history: WorkflowHistory, outcome: ReplayOutcome, kill_evidence: list[dict[str, Any]] | None = None
) -> IncidentReport:
    events = list(history.events)
    first = events[0]
    start = first.workflow_execution_started_event_attributes
    start_input = _decoded(start.input) if start.input.payloads else None
    closed_at, close_status = None, "running"
    for e in reversed(events):
        if e.event_type in _CLOSE:
            closed_at, close_status = _when(e), _CLOSE[EventType.ValueType(e.event_type)]
            break
    messages = _messages(events)
    status = outcome.status
    mandate = outcome.mandate

    # attempts per step: the n-th scheduled activity of a tool belongs to the n-th step that ran it
    queue = _activity_attempts(events)
    timeline: list[TimelineEntry] = []
    steps = status.steps if status else []
    used = [False] * len(queue)

    def take_attempts(tool: str) -> int | None:
        for i, (name, n) in enumerate(queue):
            if not used[i] and name == tool:
                used[i] = True
                return n
        return None

    for s in steps:
        ran = s.status.value in ("completed", "failed") or s.result is not None
        result = s.error or (json.dumps(s.result, ensure_ascii=False)[:200] if s.result else "")
        timeline.append(
            TimelineEntry(
                index=s.index,
                tool=s.tool,
                authority=s.authority.value if s.authority else "unknown",
                policy=s.policy.value,
                status=s.status.value,
                why=s.why,
                args=s.args,
                result=result,
                started_at=s.started_at,
                finished_at=s.finished_at,
                duration_ms=(s.finished_at - s.started_at).total_seconds() * 1000 if s.finished_at else None,
                attempts=take_attempts(s.tool) if ran else None,
                request_id=s.request_id,
            )
        )
    compensation_attempts = {}
    for c in status.compensations if status else []:
        if c.compensation and c.status in ("done", "failed"):
            n = take_attempts(c.compensation)
            if n is not None:
                compensation_attempts[c.step] = n

    # who sent each decision: updates by update id, signals by name and approver, in order
    signal_used = [False] * len(messages)
    approvals: list[ApprovalEntry] = []
    for r in status.requests if status else []:
        entry = ApprovalEntry(
            request_id=r.id,
            tool=r.tool,
            args=r.args,
            args_hash=r.args_hash,
            approvers=r.eligible,
            escalated=r.escalated,
            requested_at=r.requested_at,
            status=r.status.value,
        )
        d = r.decision
        if d is not None:
            entry.decided_by, entry.channel, entry.decided_at, entry.reason = (
                d.approver,
                d.channel.value,
                d.at,
                d.reason,
            )
            if d.update_id:
                entry.sender_identity = next(
                    (m.identity for m in messages if m.update_id == d.update_id), None
                )
            elif d.channel.value == "signal":
                for i, m in enumerate(messages):
                    if (
                        not signal_used[i]
                        and m.kind == "signal"
                        and m.name == d.kind.value
                        and d.approver in m.payload
                    ):
                        signal_used[i] = True
                        entry.sender_identity = m.identity
                        break
        approvals.append(entry)

    kill_identity = None
    if status and status.killed:
        kill_identity = next(
            (m.identity for m in messages if m.name == "kill" and status.killed.by in m.payload), None
        )

    return IncidentReport(
        workflow_id=outcome.workflow_id,
        run_id=outcome.run_id,
        workflow_type=outcome.workflow_type,
        agent=status.agent if status else None,
        reproduced=outcome.reproduced,
        replay_failure=outcome.failure,
        started_at=_when(first),
        started_by_identity=start.identity,
        closed_at=closed_at,
        close_status=close_status,
        requested_by=status.requested_by if status else (start_input or {}).get("requested_by"),
        input=status.input if status else (start_input or {}).get("input", {}),
        state=status.state.value if status else None,
        outcome=status.outcome if status else None,
        summary=status.summary if status else None,
        charter=mandate.charter if mandate else None,
        timeline=timeline,
        approvals=approvals,
        refused=status.refused if status else [],
        refused_total=status.refused_total if status else 0,
        violations=[t for t in timeline if t.status == "blocked"],
        escalations=status.escalations if status else 0,
        killed=status.killed if status else None,
        kill_identity=kill_identity,
        kill_evidence=kill_evidence or [],
        compensations=status.compensations if status else [],
        compensation_attempts=compensation_attempts,
        messages=messages,
        cost=status.cost if status else 0.0,
        events=len(events),
    )
