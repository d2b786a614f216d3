"""The incident report: the replayed state of a run, joined with what only the history knows
(how Temporal closed it, who sent each message, when, how many attempts each tool took)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import WorkflowHistory

from mandate.charter import Charter
from mandate.decisions import ApprovalRequest, KillRecord, RefusedDecision
from mandate.review.events import (
    ENDED_BY_TEMPORAL,
    Message,
    activity_attempts,
    closed,
    decoded,
    messages,
    when,
)
from mandate.review.proofs import proof_of, start_proof
from mandate.review.replay import ReplayOutcome
from mandate.run import Compensation, Step
from mandate.statements import sha256_of

__all__ = ["IncidentReport", "TimelineEntry", "ApprovalEntry", "Message", "build_report"]

_UNFINISHED = ("running", "awaiting_approval", "pending")


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
    proof: str | None = None


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
    close_status: (
        str  # Temporal's: completed, failed, canceled, terminated, timed out, ...; running while open
    )
    requested_by: str | None
    start_proof: str
    input: dict[str, Any]
    state: str | None  # the final state: the run's own, unless Temporal ended the run (then close_status)
    run_state: str | None  # the state the run's own code last set, as the replay rebuilt it
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
    kill_proof: str | None
    kill_identity: str | None
    kill_evidence: list[dict[str, Any]]
    compensations: list[Compensation]
    compensation_attempts: dict[int, int]
    messages: list[Message]
    cost: float
    events: int


def _final(status: str, close: str) -> str:
    """A step's or request's status, saying so when Temporal ended the run before it finished."""
    return f"{status} (run {close})" if close in ENDED_BY_TEMPORAL and status in _UNFINISHED else status


class _Attempts:
    """The n-th scheduled activity of a tool belongs to the n-th step (or compensation) that ran it."""

    def __init__(self, queue: list[tuple[str, int]]) -> None:
        self.queue, self.used = queue, [False] * len(queue)

    def take(self, tool: str) -> int | None:
        for i, (name, n) in enumerate(self.queue):
            if not self.used[i] and name == tool:
                self.used[i] = True
                return n
        return None


def _timeline(steps: list[Step], attempts: _Attempts, close: str) -> list[TimelineEntry]:
    timeline = []
    for s in steps:
        ran = s.status.value in ("completed", "failed") or s.result is not None
        result = s.error or (json.dumps(s.result, ensure_ascii=False)[:200] if s.result else "")
        timeline.append(
            TimelineEntry(
                index=s.index,
                tool=s.tool,
                authority=s.authority.value if s.authority else "unknown",
                policy=s.policy.value,
                status=_final(s.status.value, close),
                why=s.why,
                args=s.args,
                result=result,
                started_at=s.started_at,
                finished_at=s.finished_at,
                duration_ms=(s.finished_at - s.started_at).total_seconds() * 1000 if s.finished_at else None,
                attempts=attempts.take(s.tool) if ran else None,
                request_id=s.request_id,
            )
        )
    return timeline


def _approvals(requests: list[ApprovalRequest], received: list[Message], close: str) -> list[ApprovalEntry]:
    """Each request with who decided it: updates found by update id, signals by name and approver, in order."""
    signal_used = [False] * len(received)
    approvals = []
    for r in requests:
        entry = ApprovalEntry(
            request_id=r.id,
            tool=r.tool,
            args=r.args,
            args_hash=r.args_hash,
            approvers=r.eligible,
            escalated=r.escalated,
            requested_at=r.requested_at,
            status=_final(r.status.value, close),
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
                    (m.identity for m in received if m.update_id == d.update_id), None
                )
            elif d.channel.value == "signal":
                for i, m in enumerate(received):
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
    return approvals


def build_report(
    history: WorkflowHistory, outcome: ReplayOutcome, kill_evidence: list[dict[str, Any]] | None = None
) -> IncidentReport:
    events = list(history.events)
    first = events[0]
    start = first.workflow_execution_started_event_attributes
    start_input = decoded(start.input) if start.input.payloads else None
    if not isinstance(start_input, dict):
        start_input = {}
    closed_at, close = closed(events)
    received = messages(events)
    status, mandate = outcome.status, outcome.mandate
    run_state = status.state.value if status else None
    state = close if close in ENDED_BY_TEMPORAL else run_state

    attempts = _Attempts(activity_attempts(events))
    timeline = _timeline(status.steps if status else [], attempts, close)
    compensation_attempts = {}
    for c in status.compensations if status else []:
        if c.compensation and c.status in ("done", "failed"):
            n = attempts.take(c.compensation)
            if n is not None:
                compensation_attempts[c.step] = n

    kill_identity = None
    if status and status.killed:
        kill_identity = next(
            (m.identity for m in received if m.name == "kill" and status.killed.by in m.payload), None
        )

    keys = mandate.keys if mandate else None
    protocol = mandate.protocol if mandate else 1
    # A history file does not say which namespace it came from: everything else a statement names is checked.
    run = {"workflow_id": (mandate.workflow_id if mandate else "") or outcome.workflow_id, "agent": status.agent if status else None}
    approvals = _approvals(status.requests if status else [], received, close)
    for entry, request in zip(approvals, status.requests if status else [], strict=True):
        d = request.decision
        if d is not None and d.channel.value in ("signal", "update"):
            entry.proof = proof_of(
                d.statement, keys, at=d.at, protocol=protocol,
                expect={**run, "run_id": outcome.run_id, "act": d.kind.value, "request_id": request.id,
                        "tool": request.tool, "args_hash": request.args_hash},
            )  # fmt: skip
    killed = status.killed if status else None
    kill_proof = None
    if killed is not None and killed.channel.value in ("signal", "update"):
        kill_proof = proof_of(killed.statement, keys, at=killed.at, protocol=protocol, expect={"act": "kill", "agent": run["agent"]})
    return IncidentReport(
        workflow_id=outcome.workflow_id,
        run_id=outcome.run_id,
        workflow_type=outcome.workflow_type,
        agent=status.agent if status else None,
        reproduced=outcome.reproduced,
        replay_failure=outcome.failure,
        started_at=when(first),
        started_by_identity=start.identity,
        closed_at=closed_at,
        close_status=close,
        requested_by=status.requested_by if status else start_input.get("requested_by"),
        start_proof=start_proof(
            start_input, keys, at=when(first), protocol=protocol,
            expect={**run, "act": "start", "args_hash": sha256_of(start_input.get("input", {}))},
        ),  # fmt: skip
        input=status.input if status else start_input.get("input", {}),
        state=state,
        run_state=run_state,
        outcome=status.outcome if status else None,
        summary=status.summary if status else None,
        charter=mandate.charter if mandate else None,
        timeline=timeline,
        approvals=approvals,
        refused=status.refused if status else [],
        refused_total=status.refused_total if status else 0,
        violations=[t for t in timeline if t.status == "blocked"],
        escalations=status.escalations if status else 0,
        killed=killed,
        kill_proof=kill_proof,
        kill_identity=kill_identity,
        kill_evidence=kill_evidence or [],
        compensations=status.compensations if status else [],
        compensation_attempts=compensation_attempts,
        messages=received,
        cost=status.cost if status else 0.0,
        events=len(events),
    )
