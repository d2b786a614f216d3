"""Approval requests and the decisions taken on them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mandate.authority import Authority
from mandate.keys import person_key
from mandate.statements import SignedStatement

__all__ = [
    "DecisionKind",
    "Channel",
    "RequestStatus",
    "DecisionInput",
    "DecideInput",
    "Decision",
    "ApprovalRequest",
    "DecisionContext",
    "RefusedDecision",
    "KillInput",
    "KillRequest",
    "KillRecord",
    "same_person",
]

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


def same_person(a: str, b: str) -> bool:
    """Whether two names are the same person: equal but for ASCII letter case and outer spaces.

    Only ASCII letters fold: ``str.casefold`` would make a lookalike such as ``\u017fam@example.com``
    (a long s) or a Kelvin sign pass for a name the charter lists.
    """
    return person_key(a) == person_key(b)


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Channel(StrEnum):
    """How a decision reached the workflow."""

    SIGNAL = "signal"  # Temporal UI "Send a Signal", `temporal workflow signal`
    UPDATE = "update"  # `mandate approve` / `mandate reject`
    TIMEOUT = "timeout"  # nobody decided within the charter's timeout
    KILL = "kill"  # the run was stopped while the request waited
    CANCEL = "cancel"  # the workflow was cancelled through Temporal


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    DROPPED = "dropped"


class DecisionInput(BaseModel):
    """The payload of the ``approve`` and ``reject`` signals."""

    model_config = ConfigDict(extra="forbid")

    request_id: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None
    ) = None
    approver: Name
    reason: Reason = ""
    # The signed statement that proves the decision (``mandate approve`` signs; ``mandate sign`` prints one
    # to paste as the UI signal's input). Its signer is the approver and its reason the reason.
    statement: SignedStatement | None = None


class DecideInput(DecisionInput):
    """The payload of the ``decide`` update."""

    decision: DecisionKind
    # Set by the CLI: a decision no worker took by then is refused, so an update that waited at the
    # server while no worker ran is never applied after the command has said nothing was decided.
    expires_at: datetime | None = None


class Decision(BaseModel):
    """A decision that was accepted and bound to one request."""

    request_id: str
    kind: DecisionKind
    approver: str
    reason: str = ""
    channel: Channel
    at: datetime
    update_id: str | None = None
    # Runs from protocol 4: the statement that proved the decision, verified by the run, or None when the
    # charter accepted an unsigned decision for the tool (the approver is then a name as sent, not proven).
    statement: SignedStatement | None = None
    verified: bool = False


class ApprovalRequest(BaseModel):
    """A write the agent wants to make, waiting for a person."""

    id: str
    step: int
    tool: str
    authority: Authority
    args: dict[str, Any]
    args_hash: str
    approvers: list[str]
    escalate_to: list[str] = Field(default_factory=list)
    escalated: bool = False
    requested_by: str
    requested_at: datetime
    deadline: datetime
    status: RequestStatus = RequestStatus.PENDING
    decision: Decision | None = None

    @property
    def eligible(self) -> list[str]:
        """Who may decide it now."""
        return [*self.approvers, *self.escalate_to] if self.escalated else list(self.approvers)

    def decider(self, named: str | None = None) -> tuple[str, str]:
        """For a hint's ``--as``: ``named`` when they may decide this, else the first eligible approver; and
        the others who may, as "sam@example.com may decide it too" (empty when there are none)."""
        eligible = self.eligible
        who = next((p for p in eligible if named and same_person(p, named)), eligible[0] if eligible else "APPROVER")
        others = [p for p in eligible if p != who]
        return who, f"{', '.join(others)} may decide it too" if others else ""


class DecisionContext(BaseModel):
    """What a client signs a decision against, from one ``decision_context`` query of the run.

    One query instead of a describe, a worker check and a ``pending_approvals`` query: an answer proves
    that a worker serves the run, and the run says which run it is (a reset or a new run under the same
    id answers with its own run id, so a decision signed for it is bound to it).
    """

    run_id: str
    agent: str
    #: the run's own state (``mandate.run.RunState``); a run Temporal closed may still say ``waiting_approval``
    state: str
    pending: list[ApprovalRequest]


class RefusedDecision(BaseModel):
    """A decision the workflow refused, kept so that nobody can claim it was lost."""

    at: datetime
    channel: Channel
    kind: str
    reason: str
    approver: str | None = None
    request_id: str | None = None
    payload: str = Field(description="the payload as received, cut to 300 characters")


class KillInput(BaseModel):
    """The payload of the ``kill`` signal and update."""

    model_config = ConfigDict(extra="forbid")

    by: Name
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    rollback: bool = False
    # The stop/go owner's (or the monitor's service key's) signed kill; required from protocol 4.
    statement: SignedStatement | None = None
    # The stop/go owner's order the monitor acted on, when the monitor signed ``statement`` for this run:
    # evidence of who ordered it (the run records them), never authority of its own.
    order: SignedStatement | None = None


class KillRequest(KillInput):
    """``mandate kill``: a run's kill fields, plus an optional single run to stop instead of the fleet."""

    workflow: str | None = None


class KillRecord(BaseModel):
    """A kill a run obeyed: who, why, how it arrived, and whether its writes were rolled back."""

    at: datetime
    by: str
    reason: str
    rollback: bool
    channel: Channel
    statement: SignedStatement | None = None
    verified: bool = False
