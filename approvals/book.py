"""The approval book: one run's approval requests, and every change of their state.

A request is opened pending, then leaves that state exactly once: decided (approved or rejected by a
person, checked by ``approvals.gate.check_decision``), rejected by ``mandate`` when nobody decided in
time, or dropped when the run is killed. Escalation widens who may decide it and gives a fresh
deadline. All of that happens here and nowhere else.

Pure logic: the caller passes ``now`` (``workflow.now()`` in a run), and nothing here touches a clock,
I/O or the workflow API, so it is safe in workflow code and unit-testable as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mandate.approvals.gate import check_decider, find_pending, open_request
from mandate.approvals.proof import Proof, Proven
from mandate.authority import Authority
from mandate.charter import ToolPolicy
from mandate.decisions import (
    ApprovalRequest,
    Channel,
    Decision,
    DecisionInput,
    DecisionKind,
    RequestStatus,
)
from mandate.durations import format_duration

__all__ = ["ApprovalBook", "TIMEOUT_APPROVER"]

#: Who a request that nobody decided in time is rejected by.
TIMEOUT_APPROVER = "mandate"


class ApprovalBook:
    """Every approval request of one run, the decisions taken on them, and the rules for changing them."""

    def __init__(self) -> None:
        self.requests: dict[str, ApprovalRequest] = {}
        self.decisions: list[Decision] = []
        #: From protocol 4, what a decision must prove (set once the run has loaded its mandate).
        self.proof: Proof | None = None

    # ------------------------------------------------------------------ reading

    def pending(self) -> list[ApprovalRequest]:
        """The requests that wait for a person, oldest first."""
        return [r for r in self.requests.values() if r.status is RequestStatus.PENDING]

    @property
    def rejections(self) -> int:
        """Decisions that rejected a request (by a person or by the timeout); a kill's drops are not."""
        return sum(1 for d in self.decisions if d.kind is DecisionKind.REJECT)

    @property
    def escalations(self) -> int:
        """Requests that had to go to their escalation group."""
        return sum(1 for r in self.requests.values() if r.escalated)

    @staticmethod
    def why_not(request: ApprovalRequest) -> str:
        """Why a request that was not approved will not run, in one line for its step."""
        d = request.decision
        if d is None:
            return f"request {request.id} was {request.status.value}"
        verb = "approved" if d.kind is DecisionKind.APPROVE else "rejected"
        return f"{verb} by {d.approver} via {d.channel.value}: {d.reason}"

    # ----------------------------------------------------------------- changing

    def open(
        self,
        *,
        step: int,
        tool: str,
        authority: Authority,
        args: dict[str, Any],
        rule: ToolPolicy,
        requested_by: str,
        now: datetime,
    ) -> ApprovalRequest:
        """Open a pending request (``r1``, ``r2``, …) for exactly these arguments, due in ``rule.approval_timeout``."""
        request = open_request(
            request_id=f"r{len(self.requests) + 1}",
            step=step,
            tool=tool,
            authority=authority,
            args=args,
            approvers=list(rule.approvers),
            escalate_to=list(rule.escalate_to),
            requested_by=requested_by,
            now=now,
            timeout=rule.approval_timeout,
        )
        self.requests[request.id] = request
        return request

    def check(self, payload: DecisionInput, *, kind: DecisionKind, now: datetime) -> ApprovalRequest:
        """The pending request this decision would apply to; ``Refused`` if it may not. Changes nothing."""
        return self._checked(payload, kind=kind, now=now)[0]

    def _checked(
        self, payload: DecisionInput, *, kind: DecisionKind, now: datetime
    ) -> tuple[ApprovalRequest, Proven]:
        if self.proof is None:  # runs before protocol 4: the approver is the name sent
            request = find_pending(self.requests, payload.request_id)
            proven = Proven(who=payload.approver, reason=payload.reason, statement=None, verified=False)
        else:
            request = find_pending(self.requests, self.proof.request_named(payload))
            if payload.statement is not None:  # refused for who they claim to be, before their signature
                check_decider(request, payload.statement.signer, payload.statement.reason, kind=kind)
            proven = self.proof.decision(payload, request, kind=kind, now=now)
        check_decider(request, proven.who, proven.reason, kind=kind)
        return request, proven

    def decide(
        self,
        payload: DecisionInput,
        *,
        kind: DecisionKind,
        channel: Channel,
        now: datetime,
        update_id: str | None = None,
    ) -> Decision:
        """Apply a person's decision after ``check``; ``Refused`` (and nothing changed) if it may not."""
        request, proven = self._checked(payload, kind=kind, now=now)
        decision = Decision(
            request_id=request.id,
            kind=kind,
            approver=proven.who,
            reason=proven.reason,
            channel=channel,
            at=now,
            update_id=update_id,
            statement=proven.statement,
            verified=proven.verified,
        )
        self._settle(request, decision)
        return decision

    def escalate(self, request: ApprovalRequest, *, now: datetime, timeout: timedelta) -> None:
        """Nobody decided in time: widen the request to its escalation group, with a fresh deadline.

        The first approvers keep their say.
        """
        request.escalated = True
        request.deadline = now + timeout

    def time_out(self, request: ApprovalRequest, *, now: datetime, waited: timedelta) -> Decision:
        """Nobody decided in time (escalation included): ``mandate`` rejects the request."""
        decision = Decision(
            request_id=request.id,
            kind=DecisionKind.REJECT,
            approver=TIMEOUT_APPROVER,
            reason=f"nobody decided within {format_duration(waited)}",
            channel=Channel.TIMEOUT,
            at=now,
        )
        self._settle(request, decision)
        return decision

    def drop_pending(self, *, by: str, reason: str, now: datetime) -> list[ApprovalRequest]:
        """The run was killed: every pending request is dropped, saying who killed it and why.

        A dropped request carries the kill as its decision, but is not counted among the decisions.
        """
        dropped = self.pending()
        for request in dropped:
            request.status = RequestStatus.DROPPED
            request.decision = Decision(
                request_id=request.id,
                kind=DecisionKind.REJECT,
                approver=by,
                reason=f"run killed: {reason}",
                channel=Channel.KILL,
                at=now,
            )
        return dropped

    def _settle(self, request: ApprovalRequest, decision: Decision) -> None:
        request.decision = decision
        request.status = (
            RequestStatus.APPROVED if decision.kind is DecisionKind.APPROVE else RequestStatus.REJECTED
        )
        self.decisions.append(decision)
