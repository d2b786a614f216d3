"""The approval gate: requests bound to exact arguments, and the rules a decision must pass.

The rules only: every change of a request's state is ``approvals.book.ApprovalBook``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mandate.authority import Authority
from mandate.decisions import ApprovalRequest, DecisionInput, DecisionKind, RequestStatus, same_person
from mandate.errors import Refused, StatementRefused, first_problem
from mandate.statements import parse_statement, sha256_of

__all__ = [
    "Refused",
    "args_hash",
    "open_request",
    "parse_payload",
    "check_decision",
    "find_pending",
    "check_decider",
]


def args_hash(args: Mapping[str, Any]) -> str:
    """The sha256 of the canonical JSON of a tool's arguments: what an approver approves."""
    return sha256_of(args)


def open_request(
    *,
    request_id: str,
    step: int,
    tool: str,
    authority: Authority,
    args: dict[str, Any],
    approvers: list[str],
    escalate_to: list[str],
    requested_by: str,
    now: datetime,
    timeout: timedelta,
) -> ApprovalRequest:
    """A new pending request for exactly these arguments (their hash is what an approver approves)."""
    return ApprovalRequest(
        id=request_id,
        step=step,
        tool=tool,
        authority=authority,
        args=args,
        args_hash=args_hash(args),
        approvers=approvers,
        escalate_to=escalate_to,
        requested_by=requested_by,
        requested_at=now,
        deadline=now + timeout,
    )


def parse_payload(raw: Any, *, kind: DecisionKind) -> DecisionInput:
    """Turn a signal's raw JSON into a decision, or refuse it with a one-line reason."""
    if raw is None:
        raise Refused('the signal has no input; send {"approver": "you@example.com", "reason": "..."}')
    if not isinstance(raw, dict):
        raise Refused(f"the signal input must be a JSON object, not {type(raw).__name__}")
    if "signature" in raw:  # a signed statement, as `mandate sign` prints it
        try:
            statement = parse_statement(raw)
        except StatementRefused as refusal:
            raise Refused(str(refusal)) from None
        return DecisionInput(
            request_id=statement.request_id or None,
            approver=statement.signer,
            reason=statement.reason,
            statement=statement,
        )
    try:
        payload = DecisionInput.model_validate(raw)
    except ValidationError as err:
        raise Refused(first_problem(err)) from None
    if kind is DecisionKind.REJECT and not payload.reason:
        raise Refused("a rejection needs a reason")
    return payload


def check_decision(
    requests: Mapping[str, ApprovalRequest],
    payload: DecisionInput,
    *,
    kind: DecisionKind,
) -> ApprovalRequest:
    """The request this decision is bound to, or ``Refused`` saying why it is not allowed."""
    request = find_pending(requests, payload.request_id)
    check_decider(request, payload.approver, payload.reason, kind=kind)
    return request


def find_pending(requests: Mapping[str, ApprovalRequest], request_id: str | None) -> ApprovalRequest:
    """The pending request named, or the only one pending when none is named; else ``Refused``."""
    pending = [r for r in requests.values() if r.status is RequestStatus.PENDING]
    if request_id is None:
        if not pending:
            raise Refused("no approval request is pending")
        if len(pending) > 1:
            ids = ", ".join(r.id for r in pending)
            raise Refused(f"{len(pending)} requests are pending ({ids}); name one with request_id")
        return pending[0]
    found = requests.get(request_id)
    if found is None:
        raise Refused(f"no approval request {request_id!r} in this run")
    if found.status is not RequestStatus.PENDING:
        who = f" by {found.decision.approver}" if found.decision else ""
        raise Refused(f"request {found.id} is already {found.status.value}{who}")
    return found


def check_decider(request: ApprovalRequest, approver: str, reason: str, *, kind: DecisionKind) -> None:
    """``Refused`` unless ``approver`` may take this decision on ``request``."""
    if kind is DecisionKind.APPROVE and same_person(approver, request.requested_by):
        raise Refused(f"{approver} requested this run and cannot approve its actions")
    eligible = request.eligible
    if not any(same_person(approver, a) for a in eligible):
        raise Refused(f"{approver} is not an approver of {request.tool} (approvers: {', '.join(eligible)})")
    if kind is DecisionKind.REJECT and not reason:
        raise Refused("a rejection needs a reason")
