"""Pure unit tests of approvals: the rules a decision must pass (gate), and every change of a request's state (book)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mandate.approvals import ApprovalBook
from mandate.approvals.gate import Refused, args_hash, check_decision, open_request, parse_payload
from mandate.authority import Authority, Policy
from mandate.charter import ToolPolicy
from mandate.decisions import (
    ApprovalRequest,
    Channel,
    Decision,
    DecisionInput,
    DecisionKind,
    RequestStatus,
)

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
APPROVE = DecisionKind.APPROVE
REJECT = DecisionKind.REJECT


def make_request(
    request_id: str = "req-1",
    *,
    args: dict[str, Any] | None = None,
    approvers: list[str] | None = None,
    escalate_to: list[str] | None = None,
    requested_by: str = "carol@example.com",
    tool: str = "issue_refund",
) -> ApprovalRequest:
    return open_request(
        request_id=request_id,
        step=1,
        tool=tool,
        authority=Authority.WRITE,
        args=args if args is not None else {"order_id": 1001, "amount_cents": 2500},
        approvers=approvers if approvers is not None else ["raj@example.com", "sam@example.com"],
        escalate_to=escalate_to if escalate_to is not None else ["cfo@example.com"],
        requested_by=requested_by,
        now=NOW,
        timeout=timedelta(hours=4),
    )


def refusal(fn, *args, **kwargs) -> str:
    with pytest.raises(Refused) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message, "a refusal must say why"
    assert "\n" not in message, f"refusal is not one line: {message!r}"
    return message


def decision(approver: str, request_id: str | None = None, reason: str = "") -> DecisionInput:
    return DecisionInput(approver=approver, request_id=request_id, reason=reason)


# --- args_hash and open_request -----------------------------------------------------------


def test_args_hash_is_stable_regardless_of_key_order() -> None:
    a = args_hash({"order_id": 1001, "amount_cents": 2500, "reason": "damaged"})
    b = args_hash({"reason": "damaged", "amount_cents": 2500, "order_id": 1001})
    assert a == b
    assert a.startswith("sha256:")
    assert len(a) == len("sha256:") + 64


def test_args_hash_is_stable_for_nested_dicts() -> None:
    assert args_hash({"o": {"a": 1, "b": 2}}) == args_hash({"o": {"b": 2, "a": 1}})


@pytest.mark.parametrize(
    "changed",
    [
        {"order_id": 1001, "amount_cents": 2501},
        {"order_id": 1002, "amount_cents": 2500},
        {"order_id": 1001, "amount_cents": "2500"},
        {"order_id": 1001, "amount_cents": 2500, "extra": None},
        {"order_id": 1001},
    ],
)
def test_args_hash_differs_when_an_argument_changes(changed: dict[str, Any]) -> None:
    assert args_hash(changed) != args_hash({"order_id": 1001, "amount_cents": 2500})


def test_open_request_binds_the_exact_arguments() -> None:
    req = make_request(args={"amount_cents": 2500, "order_id": 1001})
    assert req.args == {"amount_cents": 2500, "order_id": 1001}
    assert req.args_hash == args_hash({"order_id": 1001, "amount_cents": 2500})
    assert req.status is RequestStatus.PENDING
    assert req.deadline == NOW + timedelta(hours=4)
    assert req.eligible == ["raj@example.com", "sam@example.com"]


def test_escalate_widens_the_eligible_group_and_resets_the_deadline() -> None:
    req = make_request()
    later = NOW + timedelta(hours=4)
    ApprovalBook().escalate(req, now=later, timeout=timedelta(hours=1))
    assert req.escalated
    assert req.deadline == later + timedelta(hours=1)
    assert req.eligible == ["raj@example.com", "sam@example.com", "cfo@example.com"]


# --- parse_payload ------------------------------------------------------------------------


def test_parse_payload_accepts_a_well_formed_approval() -> None:
    payload = parse_payload(
        {"request_id": "req-1", "approver": " raj@example.com ", "reason": "ok"}, kind=APPROVE
    )
    assert payload.request_id == "req-1"
    assert payload.approver == "raj@example.com"
    assert payload.reason == "ok"


def test_parse_payload_request_id_is_optional() -> None:
    assert parse_payload({"approver": "raj@example.com"}, kind=APPROVE).request_id is None


def test_parse_payload_refuses_none() -> None:
    msg = refusal(parse_payload, None, kind=APPROVE)
    assert "the signal has no input" in msg
    assert '"approver"' in msg


@pytest.mark.parametrize(("raw", "typename"), [(["raj@example.com"], "list"), ("raj@example.com", "str")])
def test_parse_payload_refuses_non_objects(raw: Any, typename: str) -> None:
    msg = refusal(parse_payload, raw, kind=APPROVE)
    assert msg == f"the signal input must be a JSON object, not {typename}"


def test_parse_payload_refuses_missing_approver() -> None:
    msg = refusal(parse_payload, {"request_id": "req-1", "reason": "ok"}, kind=APPROVE)
    assert msg == "approver: Field required"


def test_parse_payload_refuses_wrong_type() -> None:
    msg = refusal(parse_payload, {"approver": 5}, kind=APPROVE)
    assert msg.startswith("approver: ")
    assert "valid string" in msg


def test_parse_payload_refuses_unknown_fields() -> None:
    msg = refusal(parse_payload, {"approver": "raj@example.com", "approved": True}, kind=APPROVE)
    assert msg == "approved: Extra inputs are not permitted"


def test_parse_payload_refuses_a_huge_approver_without_echoing_it() -> None:
    msg = refusal(parse_payload, {"approver": "x" * 10_000}, kind=APPROVE)
    assert msg.startswith("approver: ")
    assert "at most 200 characters" in msg
    assert len(msg) < 300


def test_parse_payload_refuses_blank_approver() -> None:
    msg = refusal(parse_payload, {"approver": "   "}, kind=APPROVE)
    assert msg.startswith("approver: ")


@pytest.mark.parametrize(
    "raw", [{"approver": "raj@example.com"}, {"approver": "raj@example.com", "reason": "  "}]
)
def test_parse_payload_refuses_a_reject_without_reason(raw: dict[str, Any]) -> None:
    assert refusal(parse_payload, raw, kind=REJECT) == "a rejection needs a reason"


def test_parse_payload_accepts_a_reject_with_reason() -> None:
    payload = parse_payload({"approver": "raj@example.com", "reason": "amount too high"}, kind=REJECT)
    assert payload.reason == "amount too high"


def test_parse_payload_refusal_stays_one_line_for_a_key_with_a_newline() -> None:
    refusal(parse_payload, {"approver": "raj@example.com", "x\ninjected line": 1}, kind=APPROVE)


# --- check_decision -----------------------------------------------------------------------


def test_single_pending_request_is_chosen_when_none_is_named() -> None:
    req = make_request("req-1")
    done = make_request("req-0")
    done.status = RequestStatus.APPROVED
    requests = {"req-0": done, "req-1": req}
    assert check_decision(requests, decision("raj@example.com"), kind=APPROVE) is req


def test_no_pending_request() -> None:
    done = make_request("req-0")
    done.status = RequestStatus.REJECTED
    msg = refusal(check_decision, {"req-0": done}, decision("raj@example.com"), kind=APPROVE)
    assert msg == "no approval request is pending"
    assert (
        refusal(check_decision, {}, decision("raj@example.com"), kind=APPROVE)
        == "no approval request is pending"
    )


def test_two_pending_and_none_named_is_refused_naming_both() -> None:
    requests = {"req-1": make_request("req-1"), "req-2": make_request("req-2")}
    msg = refusal(check_decision, requests, decision("raj@example.com"), kind=APPROVE)
    assert "2 requests are pending" in msg
    assert "req-1" in msg and "req-2" in msg
    assert "request_id" in msg


def test_two_pending_and_one_named_is_accepted() -> None:
    requests = {"req-1": make_request("req-1"), "req-2": make_request("req-2")}
    assert check_decision(requests, decision("raj@example.com", "req-2"), kind=APPROVE) is requests["req-2"]


def test_unknown_request_id() -> None:
    requests = {"req-1": make_request("req-1")}
    msg = refusal(check_decision, requests, decision("raj@example.com", "req-9"), kind=APPROVE)
    assert msg == "no approval request 'req-9' in this run"


def test_already_decided_request() -> None:
    req = make_request("req-1")
    req.status = RequestStatus.APPROVED
    req.decision = Decision(
        request_id="req-1", kind=APPROVE, approver="sam@example.com", channel=Channel.UPDATE, at=NOW
    )
    msg = refusal(check_decision, {"req-1": req}, decision("raj@example.com", "req-1"), kind=APPROVE)
    assert msg == "request req-1 is already approved by sam@example.com"


def test_already_dropped_request_without_decision() -> None:
    req = make_request("req-1")
    req.status = RequestStatus.DROPPED
    msg = refusal(check_decision, {"req-1": req}, decision("raj@example.com", "req-1"), kind=REJECT)
    assert msg == "request req-1 is already dropped"


@pytest.mark.parametrize("who", ["raj@example.com", "RAJ@Example.com"])
def test_self_approval_is_refused_case_insensitively(who: str) -> None:
    # the requester is also a listed approver: still cannot approve their own run's action
    req = make_request(requested_by="raj@example.com")
    msg = refusal(check_decision, {"req-1": req}, decision(who), kind=APPROVE)
    assert msg == f"{who} requested this run and cannot approve its actions"


def test_requester_may_still_reject_their_own_request() -> None:
    req = make_request(requested_by="raj@example.com")
    assert (
        check_decision({"req-1": req}, decision("raj@example.com", reason="wrong order"), kind=REJECT) is req
    )


def test_approver_not_in_list_is_refused_with_the_approvers_named() -> None:
    req = make_request()
    msg = refusal(check_decision, {"req-1": req}, decision("mallory@example.com"), kind=APPROVE)
    assert msg == (
        "mallory@example.com is not an approver of issue_refund (approvers: raj@example.com, sam@example.com)"
    )


def test_listed_approver_is_accepted_case_insensitively() -> None:
    req = make_request()
    assert check_decision({"req-1": req}, decision("Sam@Example.COM"), kind=APPROVE) is req


@pytest.mark.parametrize(
    "lookalike",
    ["\u017fam@example.com", "\u0455am@example.com", "ra\u0135@example.com"],
    ids=["long-s", "cyrillic-dze", "j-circumflex"],
)
def test_a_name_that_only_looks_like_an_approver_is_refused(lookalike: str) -> None:
    req = make_request()
    msg = refusal(check_decision, {"req-1": req}, decision(lookalike), kind=APPROVE)
    assert msg.startswith(f"{lookalike} is not an approver of issue_refund")


def test_check_decision_refuses_a_reject_without_reason() -> None:
    req = make_request()
    msg = refusal(check_decision, {"req-1": req}, decision("raj@example.com"), kind=REJECT)
    assert msg == "a rejection needs a reason"


def test_escalated_request_accepts_the_escalation_person() -> None:
    req = make_request()
    ApprovalBook().escalate(req, now=NOW + timedelta(hours=4), timeout=timedelta(hours=1))
    assert check_decision({"req-1": req}, decision("cfo@example.com"), kind=APPROVE) is req
    # the original approvers keep their say
    assert check_decision({"req-1": req}, decision("raj@example.com"), kind=APPROVE) is req


def test_non_escalated_request_refuses_the_escalation_person() -> None:
    req = make_request()
    msg = refusal(check_decision, {"req-1": req}, decision("cfo@example.com"), kind=APPROVE)
    assert "cfo@example.com is not an approver of issue_refund" in msg
    assert "(approvers: raj@example.com, sam@example.com)" in msg


def test_an_approver_with_a_newline_is_refused_in_one_line() -> None:
    message = refusal(parse_payload, {"approver": "mallory\nraj@example.com approved"}, kind=APPROVE)
    assert message.startswith("approver:")


# --- ApprovalBook: every change of a request's state ---------------------------------------

RULE = ToolPolicy(
    policy=Policy.APPROVE,
    approvers=["raj@example.com", "sam@example.com"],
    escalate_to=["cfo@example.com"],
    approval_timeout="4h",
)


def book_with_request(requested_by: str = "carol@example.com") -> tuple[ApprovalBook, ApprovalRequest]:
    book = ApprovalBook()
    request = book.open(
        step=3,
        tool="issue_refund",
        authority=Authority.WRITE,
        args={"order_id": 1001, "amount_cents": 2500},
        rule=RULE,
        requested_by=requested_by,
        now=NOW,
    )
    return book, request


def test_the_book_numbers_requests_and_binds_each_to_its_rule() -> None:
    book, first = book_with_request()
    second = book.open(
        step=4, tool="notify_customer", authority=Authority.WRITE, args={}, rule=RULE,
        requested_by="carol@example.com", now=NOW,
    )
    assert (first.id, second.id) == ("r1", "r2")
    assert first.step == 3 and first.deadline == NOW + timedelta(hours=4)
    assert first.approvers == RULE.approvers and first.escalate_to == RULE.escalate_to
    assert book.pending() == [first, second]


def test_a_decision_settles_its_request_once() -> None:
    book, request = book_with_request()
    taken = book.decide(
        decision("sam@example.com", reason="ok"), kind=APPROVE, channel=Channel.SIGNAL, now=NOW, update_id=None
    )
    assert request.status is RequestStatus.APPROVED and request.decision == taken
    assert (taken.request_id, taken.approver, taken.channel, taken.at) == ("r1", "sam@example.com", Channel.SIGNAL, NOW)
    assert book.decisions == [taken] and book.pending() == [] and book.rejections == 0
    again = refusal(book.decide, decision("raj@example.com", "r1"), kind=APPROVE, channel=Channel.SIGNAL, now=NOW)
    assert again == "request r1 is already approved by sam@example.com"
    assert book.decisions == [taken]


def test_a_refused_decision_changes_nothing() -> None:
    book, request = book_with_request(requested_by="raj@example.com")
    before = request.model_copy(deep=True)
    refusal(book.decide, decision("raj@example.com"), kind=APPROVE, channel=Channel.UPDATE, now=NOW)
    refusal(book.decide, decision("mallory@example.com"), kind=APPROVE, channel=Channel.UPDATE, now=NOW)
    refusal(book.decide, decision("sam@example.com"), kind=REJECT, channel=Channel.UPDATE, now=NOW)
    assert request == before and book.decisions == [] and book.pending() == [request]


def test_an_update_decision_keeps_its_update_id() -> None:
    book, _ = book_with_request()
    decided = book.decide(
        decision("sam@example.com", reason="no"), kind=REJECT, channel=Channel.UPDATE, now=NOW, update_id="u-1"
    )
    assert (decided.kind, decided.update_id) == (REJECT, "u-1")
    assert book.rejections == 1


def test_escalation_then_timeout_rejects_as_mandate() -> None:
    book, request = book_with_request()
    book.escalate(request, now=NOW + timedelta(hours=4), timeout=timedelta(hours=4))
    assert book.escalations == 1 and request.status is RequestStatus.PENDING
    timed_out = book.time_out(request, now=NOW + timedelta(hours=8), waited=timedelta(hours=4))
    assert request.status is RequestStatus.REJECTED and request.decision == timed_out
    assert (timed_out.approver, timed_out.channel, timed_out.reason) == ("mandate", Channel.TIMEOUT, "nobody decided within 4h")
    assert book.decisions == [timed_out] and book.rejections == 1


def test_a_kill_drops_every_pending_request_without_counting_a_decision() -> None:
    book, first = book_with_request()
    second = book.open(
        step=4, tool="issue_refund", authority=Authority.WRITE, args={"order_id": 2}, rule=RULE,
        requested_by="carol@example.com", now=NOW,
    )
    book.decide(decision("sam@example.com", "r1"), kind=APPROVE, channel=Channel.SIGNAL, now=NOW)
    dropped = book.drop_pending(by="sam@example.com", reason="incident", now=NOW)
    assert dropped == [second] and second.status is RequestStatus.DROPPED
    assert second.decision is not None and second.decision.channel is Channel.KILL
    assert second.decision.reason == "run killed: incident"
    assert first.status is RequestStatus.APPROVED and len(book.decisions) == 1
    assert book.why_not(second) == "rejected by sam@example.com via kill: run killed: incident"


def test_refused_is_one_class_whichever_module_it_is_imported_from() -> None:
    from mandate import approvals, errors

    assert approvals.Refused is errors.Refused is Refused
