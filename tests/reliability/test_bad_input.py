"""Bad input: hundreds of generated approval payloads, bad CLI arguments, malformed charters.

The contract (DESIGN.md, "Workflow interface"): a malformed or unauthorised *signal* never fails
the workflow, it is recorded as a refused decision, visible in `status` and in the history; the
`decide` *update*'s validator refuses before anything is written to the history, and the caller
gets the reason at once; the CLI prints one `error:` line; a charter that fails validation is
refused with the file, the field and the reason.

The payloads are generated from a fixed seed, so a failure names a payload that can be replayed.
Each one is invalid by construction (an approver who is not one, a missing or mistyped field, an
unknown request, a string past its limit, junk nested anywhere), never by asking Mandate.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from mandate.charter import load_charter
from mandate.decisions import RequestStatus, same_person
from mandate.errors import CharterError, KeysError
from mandate.keys import new_key, publish
from mandate.run import RunState
from mandate.tools import registry
from mandate.worker.dev_server import SERVER_LIMITS
from tests.helpers import decision_statement, one_line_error, signed_decision
from tests.reliability._harness import (
    BOB,
    ELIGIBLE,
    QI,
    RAJ,
    REPO,
    SAM,
    TEMPORAL,
    Stack,
    bounded,
    expect,
)

SEED = 20_240_601
ORDERS = iter(ELIGIBLE)

# ---------------------------------------------------------------------------- generated payloads

NOT_APPROVERS = [
    "mallory@example.com",
    QI,  # approves notify_customer, not issue_refund
    "cfo@example.com",  # the escalation group, before any escalation
    "raj@example.co",
    "raj",
    "@",
    "raj@example.com.evil",
    f"{SAM},{RAJ}",
    "*",
    "%",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "${jndi:ldap://x/a}",
    "../../etc/passwd",
    "null",
]
UNICODE_NAMES = [
    "r\u0430j@example.com",  # Cyrillic a
    "\uff52\uff41\uff4a@example.com",  # fullwidth
    "raj\u200b@example.com",  # zero-width space inside
    "\u202eraj@example.com",  # right-to-left override
    "r\u0323aj@example.com",  # combining dot below
    "\U0001f600",
    "raj@ex\u00e4mple.com",
    "\U0001d42b\U0001d41a\U0001d423@example.com",  # mathematical bold
    "\u0631\u0627\u062c@example.com",
    "\u62c9\u5409@example.com",
    "\u0000raj@example.com",
    "raj@example.com\u0000",
    "raj@example.com\x1b[31m",
    "raj@example.com\r\nsam@example.com",
    "\x7f",
]
HUGE_NAMES = ["a" * 201, "b" * 10_000, "\u00e9" * 50_000]
UNKNOWN_REQUESTS = [
    "r2",
    "r0",
    "R1",
    "r01",
    "r1.0",
    "r\uff11",
    "r1\u0000",
    "*",
    "%",
    "r1' OR '1'='1",
    "../r1",
    "",
    " ",
    "r" * 101,
    "r1" * 20_000,
]
WRONG_TYPES: list[Any] = [
    0,
    1,
    -1,
    3.14,
    True,
    False,
    "approve",
    "",
    "{}",
    [],
    [RAJ],
    [{"approver": RAJ}],
    [[[]]],
]
FIELD_JUNK: list[Any] = [None, 5, 2.5, True, [RAJ], {"email": RAJ}, [], {}, [[{"a": [None]}]]]


def _deep(levels: int) -> Any:
    value: Any = RAJ
    for n in range(levels):
        value = {"v": value} if n % 2 else [value]
    return value


def _handmade() -> list[tuple[str, str | None, Any]]:
    """(label, signal it must go to or None for either, payload): every one invalid for that signal."""
    items: list[tuple[str, str | None, Any]] = []
    items += [(f"top-level {v!r}"[:60], None, v) for v in WRONG_TYPES]
    items += [("empty object", None, {}), ("no approver", None, {"request_id": "r1", "reason": "ok"})]
    items += [("only a reason", None, {"reason": "ok"})]
    items += [
        (f"approver {v!r}"[:60], None, {"request_id": "r1", "approver": v, "reason": "x"}) for v in FIELD_JUNK
    ]
    items += [
        (f"request_id {v!r}"[:60], None, {"request_id": v, "approver": RAJ, "reason": "x"})
        for v in FIELD_JUNK[1:]
    ]
    items += [
        (f"reason {v!r}"[:60], None, {"request_id": "r1", "approver": RAJ, "reason": v}) for v in FIELD_JUNK
    ]
    items += [(f"not an approver {v!r}"[:60], None, {"approver": v, "reason": "x"}) for v in NOT_APPROVERS]
    items += [(f"unicode approver {v!r}"[:60], None, {"approver": v, "reason": "x"}) for v in UNICODE_NAMES]
    items += [(f"huge approver {len(v)}", None, {"approver": v, "reason": "x"}) for v in HUGE_NAMES]
    items += [
        (f"unknown request {v[:20]!r}", None, {"request_id": v, "approver": RAJ, "reason": "x"})
        for v in UNKNOWN_REQUESTS
    ]
    items += [
        ("huge reason", None, {"request_id": "r1", "approver": RAJ, "reason": "x" * 2001}),
        ("huger reason", None, {"request_id": "r1", "approver": RAJ, "reason": "\u00e9" * 200_000}),
        ("huge unknown key", None, {"approver": RAJ, "k" * 100_000: 1}),
        (
            "extra field",
            None,
            {"request_id": "r1", "approver": RAJ, "reason": "x", "extra": {"a": [1, {"b": None}]}},
        ),
        (
            "decision field in a signal",
            None,
            {"request_id": "r1", "approver": RAJ, "reason": "x", "decision": "approve"},
        ),
        ("approver nested in approver", None, {"approver": {"approver": RAJ}}),
        ("deeply nested approver", None, {"approver": _deep(150), "reason": "x"}),
        ("deeply nested extra", None, {"approver": RAJ, "reason": "x", "junk": _deep(150)}),
        ("request as object", None, {"request_id": {"id": "r1"}, "approver": RAJ}),
        ("keys differ in case", None, {"Approver": RAJ, "Request_Id": "r1"}),
        ("unicode keys", None, {"\u0430pprover": RAJ}),
        # Self-approval: the requester may reject their own run's action, never approve it.
        ("self-approval", "approve", {"request_id": "r1", "approver": BOB, "reason": "mine"}),
        ("self-approval, other case", "approve", {"approver": BOB.upper()}),
        # A rejection needs a reason.
        ("rejection without reason", "reject", {"request_id": "r1", "approver": SAM}),
        ("rejection with blank reason", "reject", {"request_id": "r1", "approver": SAM, "reason": "   "}),
    ]
    return items


def _generated(rng: random.Random, n: int) -> list[tuple[str, str | None, Any]]:
    """Random combinations of valid and invalid parts, at least one part invalid."""
    bad_approvers = NOT_APPROVERS + UNICODE_NAMES + HUGE_NAMES[:2] + FIELD_JUNK
    items = []
    for i in range(n):
        parts: dict[str, Any] = {}
        broken = rng.sample(["approver", "request_id", "reason", "extra"], k=rng.randint(1, 3))
        parts["approver"] = rng.choice(bad_approvers) if "approver" in broken else rng.choice([RAJ, SAM])
        if "request_id" in broken:
            parts["request_id"] = rng.choice(UNKNOWN_REQUESTS + FIELD_JUNK[1:])
        elif rng.random() < 0.5:
            parts["request_id"] = "r1"
        if "reason" in broken:
            parts["reason"] = rng.choice(["x" * rng.randint(2001, 5000), *FIELD_JUNK])
        else:
            parts["reason"] = rng.choice(["ok", "\u00e7a va", "\U0001f44d fine", "x" * 2000])
        if "extra" in broken:
            key = rng.choice(["extra", "decision", "by", "\u00e4", "approver "])
            parts[key] = rng.choice(FIELD_JUNK if key == "decision" else [*FIELD_JUNK, "approve"])
        if rng.random() < 0.2:
            parts = dict(rng.sample(list(parts.items()), k=len(parts)))  # key order does not matter
        items.append((f"generated #{i} broken={','.join(sorted(broken))}", None, parts))
    return items


def signal_payloads(n: int = 300) -> list[tuple[str, str, Any]]:
    rng = random.Random(SEED)
    items = _handmade()
    items += _generated(rng, max(0, n - len(items)))
    return [
        (label, channel or rng.choice(["approve", "reject"]), payload) for label, channel, payload in items
    ]


def update_payloads(n: int = 300) -> list[tuple[str, Any]]:
    """`decide` inputs: the signal junk with a decision added, and junk decisions on valid-looking input."""
    random.Random(SEED + 1)
    items: list[tuple[str, Any]] = []
    for label, channel, payload in signal_payloads(n - 11):
        if label == "decision field in a signal":
            continue  # a valid `decide` input
        if isinstance(payload, dict) and "decision" not in payload:
            payload = {**payload, "decision": channel}
        items.append((f"{label} as {channel}", payload))
    for junk in [
        None,
        "",
        "APPROVE",
        "maybe",
        1,
        True,
        ["approve"],
        {"kind": "approve"},
        "approve ",
        "\u0430pprove",
    ]:
        items.append(
            (f"decision {junk!r}", {"request_id": "r1", "approver": RAJ, "reason": "x", "decision": junk})
        )
    items.append(("no decision", {"request_id": "r1", "approver": RAJ, "reason": "x"}))
    items.append(("everything junk", {"decision": {"approve": True}, "approver": [RAJ], "request_id": 1}))
    return items


def wrong_person(payload: Any) -> str | None:
    """The approver of a `decide` input that would be a proper decision but for who decides (not an approver
    of issue_refund, or its requester): such a person can sign it with their own key. None for any other."""
    if not isinstance(payload, dict) or set(payload) - {"request_id", "approver", "reason", "decision"}:
        return None
    approver, reason = payload.get("approver"), payload.get("reason", "")
    if not (
        isinstance(approver, str) and approver.strip() and len(approver) <= 200 and approver.isprintable()
    ):
        return None
    if payload.get("request_id", "r1") != "r1" or payload.get("decision") not in ("approve", "reject"):
        return None
    if (
        not isinstance(reason, str)
        or len(reason) > 2000
        or (payload["decision"] == "reject" and not reason.strip())
    ):
        return None
    if any(same_person(approver, eligible) for eligible in (RAJ, SAM)):
        return None
    return approver


# ---------------------------------------------------------------------------- helpers


async def fresh_run(st: Stack) -> str:
    workflow_id = await st.start_run(next(ORDERS))
    await st.wait_pending(workflow_id, "issue_refund")
    return workflow_id


async def send_signal(st: Stack, workflow_id: str, name: str, payload: Any) -> None:
    await st.handle(workflow_id).signal(name, payload)


async def signal_taken(st: Stack, workflow_id: str, name: str, payload: Any) -> bool:
    """Whether the server took the signal; past the run's allowance (``SERVER_LIMITS``) it refuses, saying so."""
    try:
        await send_signal(st, workflow_id, name, payload)
    except RPCError as err:
        assert "exceeded workflow execution limit for signal events" in err.message, err
        return False
    return True


async def send_update(st: Stack, workflow_id: str, payload: Any) -> str:
    """The refusal's message; raises if the update was accepted."""
    try:
        accepted = await st.handle(workflow_id).execute_update("decide", payload)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        return cause.message if isinstance(cause, ApplicationError) else str(cause or err)
    raise AssertionError(f"update accepted: {payload!r:.300} -> {accepted!r:.300}")


async def task_failures(st: Stack, workflow_id: str) -> list[str]:
    """Workflow task failures, except the server's benign UnhandledCommand (new events raced a completion)."""
    failures = []
    async for event in st.handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attrs = event.workflow_task_failed_event_attributes
            if attrs.cause != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND:
                failures.append(attrs.failure.message[:300])
    return failures


async def still_waiting_untouched(st: Stack, workflow_id: str) -> None:
    description = await st.handle(workflow_id).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING, description.status
    status = await st.status(workflow_id)
    assert status.state is RunState.WAITING_APPROVAL, status.state
    assert status.decisions == [], status.decisions
    assert [(r.id, r.status) for r in status.requests] == [("r1", RequestStatus.PENDING)]
    assert await task_failures(st, workflow_id) == []


async def finish_properly(st: Stack, workflow_id: str, order_id: int) -> None:
    """After the junk, proper decisions still work: the run refunds once and completes."""
    ok = await st.acli("approve", workflow_id, "--as", RAJ, "--request", "r1", "--reason", "after the junk")
    assert ok.ok, ok
    await st.wait_pending(workflow_id, "notify_customer")
    ok = await st.acli("approve", workflow_id, "--as", QI, "--request", "r2")
    assert ok.ok, ok
    result = await st.result(workflow_id)
    assert result.outcome == "refunded", result
    assert [r[0] for r in st.refunds()].count(order_id) == 1


# ---------------------------------------------------------------------------- signals and updates


def test_the_generated_payloads_are_many_and_varied() -> None:
    signals, updates = signal_payloads(), update_payloads()
    assert len(signals) >= 300 and len(updates) >= 300
    kinds = {type(p).__name__ for _, _, p in signals}
    assert {"dict", "list", "str", "int", "float", "bool"} <= kinds
    assert any(len(json.dumps(p)) > 100_000 for _, _, p in signals)
    assert {c for _, c, _ in signals} == {"approve", "reject"}


async def test_hundreds_of_bad_signals_are_refused_and_recorded_and_no_workflow_fails(
    module_stack: Stack,
) -> None:
    st = module_stack
    workflow_id = await fresh_run(st)
    order_id = (await st.status(workflow_id)).input["order_id"]
    payloads = signal_payloads()
    allowance = SERVER_LIMITS["history.maximumSignalsPerExecution"]

    taken = sum(await bounded(payloads, lambda item: signal_taken(st, workflow_id, item[1], item[2]), limit=16))
    assert taken == allowance < len(payloads), taken  # the server's limit, not the run, stopped the rest

    status = await st.wait_status(
        workflow_id, f"{taken} refused decisions", lambda s: s.refused_total >= taken, timeout=120
    )
    assert status.refused_total == taken, status.refused_total
    assert len(status.refused) == min(taken, 50)  # the last 50 in full; the total counts them all
    for refused in status.refused:
        assert refused.channel.value == "signal" and refused.kind in ("approve", "reject"), refused
        assert refused.reason.strip() and "\n" not in refused.reason and "\r" not in refused.reason, refused
        assert len(refused.payload) <= 300 and (refused.approver is None or len(refused.approver) <= 200)
    await still_waiting_untouched(st, workflow_id)

    signaled = 0
    async for event in st.handle(workflow_id).fetch_history_events():
        signaled += event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    assert signaled == taken  # every one taken is in the history too

    text = await st.acli("status", workflow_id)
    assert text.ok and "refused" in text.stdout, text
    await finish_properly(st, workflow_id, order_id)  # decisions go by update: the junk cannot use those up


async def test_hundreds_of_bad_updates_are_refused_at_once_and_nothing_is_written(
    module_stack: Stack,
) -> None:
    st = module_stack
    workflow_id = await fresh_run(st)
    order_id = (await st.status(workflow_id)).input["order_id"]
    events_before = len([e async for e in st.handle(workflow_id).fetch_history_events()])
    payloads = update_payloads()
    # issue_refund is a write: its decisions must be signed. Whoever is wrong only for being the wrong person
    # signs with their own key, as `mandate approve --as NAME` would; the rest of the junk goes as it is.
    signed_by: dict[int, str] = {}
    for n, (label, payload) in enumerate(payloads):
        who = wrong_person(payload)
        if who is None:
            continue
        try:
            statement = await decision_statement(
                st.handle(workflow_id),
                who,
                approve=payload["decision"] == "approve",
                reason=payload.get("reason", ""),
                request_id="r1",
            )
        except (
            KeysError,
            ValueError,
        ):  # no key can be made for this name (`mandate keys new` refuses it too)
            continue
        payloads[n] = (f"{label}, signed", {**payload, "statement": statement.model_dump(mode="json")})
        signed_by[n] = who

    # At most 8 at a time: Temporal admits 10 in-flight updates per workflow.
    reasons = await bounded(payloads, lambda item: send_update(st, workflow_id, item[1]), limit=8)

    for (label, _payload), reason in zip(payloads, reasons, strict=True):
        assert reason.strip() and "\n" not in reason, f"{label}: {reason!r}"
    # Signed by the wrong person: refused for who they are, as a plain name used to be.
    assert len(signed_by) >= 8, signed_by
    for n, who in signed_by.items():
        label, payload = payloads[n]
        if same_person(who, BOB) and payload["decision"] == "approve":
            assert f"{who} requested this run and cannot approve its actions" == reasons[n], (
                label,
                reasons[n],
            )
        else:
            assert reasons[n].startswith(f"{who} is not an approver of issue_refund"), (label, reasons[n])
    # The rest: an unsigned decision on a write is refused for that, an unknown request for being unknown.
    # Every name a key can be made for is signed above, so few unsigned decisions reach the run intact; each
    # that does is refused for being unsigned before anything else is asked of it.
    unsigned = [r for n, r in enumerate(reasons) if n not in signed_by]
    assert sum("issue_refund needs a signed decision" in r for r in unsigned) >= 5
    assert not [r for r in unsigned if "is not an approver" in r or "cannot approve" in r], unsigned
    assert sum("no approval request" in r for r in reasons) >= 10
    # Rejected updates leave no trace in the history (Temporal never writes a rejected update).
    events_after = len([e async for e in st.handle(workflow_id).fetch_history_events()])
    assert events_after == events_before
    await still_waiting_untouched(st, workflow_id)
    await finish_properly(st, workflow_id, order_id)


async def test_signals_and_updates_mixed_at_once_leave_exactly_one_proper_decision(
    module_stack: Stack,
) -> None:
    """Junk from both channels interleaved with one valid approval: only the valid one is applied."""
    st = module_stack
    workflow_id = await fresh_run(st)

    # Once the valid approval lands, the refund runs and r2 (notify_customer) opens: junk naming r2, or naming
    # qi (an approver of notify_customer) without a request id, would then be a proper decision: left out here.
    def names_r2(payload: Any) -> bool:
        return isinstance(payload, dict) and (
            payload.get("request_id") == "r2" or str(payload.get("approver")).casefold() == QI
        )

    signals = [s for s in signal_payloads(120) if not names_r2(s[2])]
    updates = [u for u in update_payloads(120) if not names_r2(u[1])]
    jobs: list[Any] = [("signal", s) for s in signals] + [("update", u) for u in updates]
    random.Random(SEED + 2).shuffle(jobs)
    jobs.insert(len(jobs) // 2, ("valid", None))
    valid = await decision_statement(st.handle(workflow_id), SAM, reason="valid", request_id="r1")

    async def send(job: Any) -> Any:
        kind, item = job
        if kind == "signal":
            return await signal_taken(st, workflow_id, item[1], item[2])
        if kind == "update":
            return await send_update(st, workflow_id, item[1])
        return await st.handle(workflow_id).execute_update(
            "decide",
            {
                "request_id": "r1",
                "approver": SAM,
                "reason": "valid",
                "decision": "approve",
                "statement": valid.model_dump(mode="json"),
            },
        )

    sent = await bounded(jobs, send, limit=8)
    taken = sum(1 for (kind, _), answer in zip(jobs, sent, strict=True) if kind == "signal" and answer)
    assert taken == SERVER_LIMITS["history.maximumSignalsPerExecution"] < len(signals), taken
    status = await st.wait_status(
        workflow_id,
        "the valid approval and every signal taken refused",
        lambda s: s.refused_total >= taken and bool(s.decisions),
        timeout=120,
    )
    assert [(d.request_id, d.approver, d.channel.value) for d in status.decisions] == [("r1", SAM, "update")]
    assert status.refused_total == taken
    assert await task_failures(st, workflow_id) == []
    await st.wait_pending(workflow_id, "notify_customer")


# ---------------------------------------------------------------------------- the CLI


def cli_cases() -> list[tuple[str, list[str]]]:
    """Bad decisions that are well-formed arguments: the workflow's validator refuses each."""
    rng = random.Random(SEED + 3)
    cases: list[tuple[str, list[str]]] = []
    for name in NOT_APPROVERS[:8] + [n for n in UNICODE_NAMES if n.isprintable()][:8]:
        cases.append((f"approve as {name!r}", ["approve", "--as", name]))
    cases.append(("self-approval", ["approve", "--as", BOB]))
    for request in ["r2", "r0", "R1", "r\uff11", "*"]:
        cases.append((f"unknown request {request!r}", ["approve", "--as", RAJ, "--request", request]))
        cases.append(
            (
                f"reject unknown request {request!r}",
                ["reject", "--as", SAM, "--request", request, "--reason", "no"],
            )
        )
    cases.append(("reject as outsider", ["reject", "--as", "mallory@example.com", "--reason", "no"]))
    rng.shuffle(cases)
    return cases


async def test_the_cli_prints_one_line_errors_for_bad_decisions(module_stack: Stack) -> None:
    st = module_stack
    workflow_id = await fresh_run(st)
    cases = cli_cases()

    async def call(case: tuple[str, list[str]]) -> tuple[str, Any]:
        label, args = case
        return label, await st.acli(args[0], workflow_id, *args[1:])

    results = await bounded(cases, call, limit=4)
    for label, r in results:
        line = one_line_error(r)
        assert len(line) < 600, (label, line)
    await still_waiting_untouched(st, workflow_id)

    for args in (["status", "no-such-run"], ["approve", "no-such-run", "--as", RAJ]):
        r = await st.acli(*args)
        assert "no workflow with id 'no-such-run'" in one_line_error(r), r
    # An odd agent name is just a filter that matches nothing, while this run's request is pending.
    listed = await st.acli("pending", "--json")
    assert listed.ok and workflow_id in [i["workflow_id"] for i in listed.json()], listed
    odd = await st.acli("pending", "--agent", "'; --")
    assert odd.ok and odd.stdout.strip() == "no pending approvals", odd
    odd = await st.acli("pending", "--agent", "'; --", "--json")
    assert odd.ok and odd.json() == [], odd


async def test_the_cli_prints_one_line_errors_for_arguments_outside_the_limits(module_stack: Stack) -> None:
    st = module_stack
    workflow_id = await fresh_run(st)
    cases = [
        ["approve", workflow_id, "--as", "a" * 201],
        ["approve", workflow_id, "--as", ""],
        ["approve", workflow_id, "--as", "raj\x01@example.com"],
        ["approve", workflow_id, "--as", RAJ, "--reason", "x" * 2001],
        ["approve", workflow_id, "--as", RAJ, "--request", ""],
        ["reject", workflow_id, "--as", SAM, "--reason", "y" * 5000],
    ]
    results = await bounded(cases, lambda args: st.acli(*args), limit=3)
    await still_waiting_untouched(st, workflow_id)
    broken = [
        r
        for r in results
        if r.returncode != 1 or "Traceback" in r.stderr or len(r.stderr.strip().splitlines()) != 1
    ]
    expect(
        not broken,
        f"{len(broken)} of {len(results)} calls did not end in one error line; first:\n{broken[0] if broken else ''}",
    )


# ---------------------------------------------------------------------------- payloads the SDK cannot decode


async def test_signals_the_sdk_cannot_decode_are_refused_and_recorded(module_stack: Stack) -> None:
    st = module_stack
    workflow_id = await fresh_run(st)
    raw = [
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"approver": "raj@example.com"'),
        Payload(metadata={"encoding": b"json/plain"}, data=b"\xff\xfe"),
        Payload(metadata={"encoding": b"application/x-junk"}, data=b"{}"),
        Payload(metadata={}, data=b"{}"),
        Payload(metadata={"encoding": b"binary/plain"}, data=b"\x00\x01"),
    ]
    for payload in raw:
        await st.handle(workflow_id).signal("approve", RawValue(payload))
    status = await st.wait_status(
        workflow_id, f"{len(raw)} undecodable signals refused", lambda s: s.refused_total >= len(raw)
    )
    await still_waiting_untouched(st, workflow_id)
    expect(
        status.refused_total == len(raw),
        f"{len(raw)} undecodable signals sent, {status.refused_total} recorded as refused "
        f"({[r.reason for r in status.refused]})",
    )


async def test_a_signal_with_two_inputs_is_refused_not_wedging_the_run(stack: Stack) -> None:
    st = stack
    await st.start_worker()
    workflow_id = await st.start_run(1001)
    await st.wait_pending(workflow_id, "issue_refund")
    sent = subprocess.run(
        [TEMPORAL, "workflow", "signal", "--address", st.address, "--workflow-id", workflow_id, "--name", "approve",
         "--input", json.dumps({"approver": RAJ, "request_id": "r1"}), "--input", '"second"'],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        status = None
        while loop.time() < deadline:
            try:
                status = await asyncio.wait_for(st.status(workflow_id), timeout=5)
            except Exception:  # noqa: BLE001  (a wedged run does not answer queries)
                status = None
            if status is not None and status.refused_total >= 1:
                break
            await asyncio.sleep(0.5)
        failures = await task_failures(st, workflow_id)
        expect(
            status is not None, f"the run no longer answers its status query; task failures: {failures[:1]}"
        )
        expect(
            status.refused_total == 1 and not status.decisions,
            f"refused {status.refused_total}, decided {status.decisions}",
        )
        expect(failures == [], f"workflow task failures: {failures[:1]}")
    finally:
        await st.handle(workflow_id).terminate("test cleanup: wedged by a two-argument signal")


async def test_a_name_that_only_casefolds_to_an_approver_is_refused(module_stack: Stack) -> None:
    st = module_stack
    workflow_id = await fresh_run(st)
    impostor = "\u017fam@example.com"  # LATIN SMALL LETTER LONG S + "am@example.com"
    # The impostor has a key of their own, listed under the lookalike name (as `mandate keys new --as NAME
    # --key-id ID` makes one), and signs with it.
    _, entry = new_key(impostor, key_id=f"lookalike-{uuid.uuid4().hex[:8]}")
    publish(entry)
    await st.handle(workflow_id).signal(
        "approve",
        await signed_decision(st.handle(workflow_id), impostor, reason="lookalike", request_id="r1"),
    )
    status = await st.wait_status(
        workflow_id, "the lookalike decided or refused", lambda s: bool(s.decisions or s.refused_total)
    )
    expect(
        status.decisions == [],
        f"{impostor!r} is not in the charter, yet the run recorded {[(d.request_id, d.approver) for d in status.decisions]}",
    )


# ---------------------------------------------------------------------------- malformed charters


def _charter_cases() -> list[tuple[str, str, str | bytes]]:
    """(label, the field the refusal must name, the file's content)."""
    good = (REPO / "charters" / "refund-agent.toml").read_text(encoding="utf-8")

    def sub(old: str, new: str) -> str:
        assert old in good, old
        return good.replace(old, new, 1)

    def without(prefix: str) -> str:
        """The charter without the tables whose header starts with ``[prefix``, up to the next blank line."""
        kept, skipping = [], False
        for line in good.splitlines():
            if line.startswith("["):
                skipping = line.startswith(f"[{prefix}")
            elif not line.strip():
                skipping = False
            if not skipping:
                kept.append(line)
        return "\n".join(kept) + "\n"

    policy_line = 'policy = "approve"             # allow | approve | block'
    return [
        ("toml syntax", "(toml)", sub('name = "refund-agent"', 'name = "refund-agent')),
        ("duplicate key", "(toml)", 'name = "refund-agent"\n' + good),
        ("not utf-8", "(file)", good.encode() + b"\n# \xff\xfe\n"),
        ("empty file", "name", ""),
        ("binary junk", "(file)", bytes(range(256)) * 4),
        ("binary junk, ascii only", "(toml)", bytes(range(128)) * 4),
        ("no owners", "owners", without("owners")),
        ("owners misspelt", "owner", sub("[owners]", "[owner]")),
        ("no stop/go owner", "owners.stop_go", sub('stop_go = "sam@example.com"', "")),
        ("blank owner", "owners.risk", sub('risk = "raj@example.com"', 'risk = "   "')),
        ("huge owner", "owners.quality", sub('quality = "qi@example.com"', f'quality = "{"q" * 300}"')),
        ("owners not a table", "owners", 'owners = "everyone"\n' + without("owners")),
        ("typo in a field", "tools.issue_refund.aprovers", sub('approvers = ["raj', 'aprovers = ["raj')),
        ("unknown policy", "tools.issue_refund.policy", sub(policy_line, 'policy = "maybe"')),
        (
            "approve without approvers",
            "tools.issue_refund",
            sub('approvers = ["raj@example.com", "sam@example.com"]', "approvers = []"),
        ),
        (
            "bad timeout",
            "tools.issue_refund.approval_timeout",
            sub('approval_timeout = "4h"', 'approval_timeout = "soon"'),
        ),
        (
            "approvers not a list",
            "tools.issue_refund.approvers",
            sub('approvers = ["raj@example.com", "sam@example.com"]', "approvers = 5"),
        ),
        (
            "unknown tool",
            "tools.teleport",
            sub("[kill_criteria]", '[tools.teleport]\npolicy = "allow"\n\n[kill_criteria]'),
        ),
        (
            "write tool allowed without reason",
            "tools.notify_customer.policy",
            sub('policy = "approve"             # a person', 'policy = "allow" # a person'),
        ),
        (
            "nested junk",
            "tools.issue_refund.extra",
            sub(
                'escalate_to = ["cfo@example.com"]',
                'escalate_to = ["cfo@example.com"]\n[tools.issue_refund.extra.deep]\nx = 1',
            ),
        ),
        ("tools not a table", "tools", "tools = [1, 2]\n" + without("tools")),
        (
            "min_samples not a number",
            "kill_criteria.min_samples",
            sub("min_samples = 20", 'min_samples = "many"'),
        ),
        ("min_samples zero", "kill_criteria.min_samples", sub("min_samples = 20", "min_samples = 0")),
        (
            "rate above one",
            "kill_criteria.max_exception_rate",
            sub("max_exception_rate = 0.10", "max_exception_rate = 2.0"),
        ),
        ("unknown action", "kill_criteria.action", sub('action = "rollback"', 'action = "explode"')),
        (
            "bad check interval",
            "kill_criteria.check_every",
            sub('check_every = "30s"', 'check_every = "every now and then"'),
        ),
        ("kill criteria not a table", "kill_criteria", "kill_criteria = 5\n" + without("kill_criteria")),
        ("bad agent name", "name", sub('name = "refund-agent"', 'name = "Refund Agent!"')),
        ("name is not the file name", "name", sub('name = "refund-agent"', 'name = "other-agent"')),
        ("bad workflow name", "workflow", sub('workflow = "RefundAgent"', 'workflow = "1 bad"')),
        ("unicode junk field", "\u00fcbersicht", '"\u00fcbersicht" = "\U0001f600"\n' + good),
    ]


CHARTER_CASES = _charter_cases()


@pytest.mark.parametrize("label,field,content", CHARTER_CASES, ids=[c[0] for c in CHARTER_CASES])
def test_a_malformed_charter_is_refused_with_file_field_and_reason(
    tmp_path: Path, label: str, field: str, content: str | bytes
) -> None:
    path = tmp_path / "refund-agent.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CharterError) as caught:
        load_charter(path, registry)
    err = caught.value
    assert err.path == str(path)
    assert err.field == field and err.reason.strip(), (err.field, err.reason)
    assert str(err) == f"{path}: {err.field}: {err.reason}" and "\n" not in str(err)


async def test_the_cli_refuses_malformed_charters_in_one_line_naming_file_field_and_reason(
    tmp_path: Path,
) -> None:
    """`mandate worker` and `mandate start` refuse each malformed charter before touching a server."""
    st = Stack(tmp_path / "cli")  # no server: both commands must fail on the charter first
    jobs = []
    for n, (label, field, content) in enumerate(CHARTER_CASES):
        folder = tmp_path / f"case-{n}"
        folder.mkdir()
        path = folder / "refund-agent.toml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        jobs.append(
            (label, field, str(path), ["worker", "--charters", str(folder), "--address", "127.0.0.1:1"])
        )
        jobs.append(
            (label, field, str(path),
             ["start", "refund-agent", "--input", "{}", "--requested-by", BOB, "--charters", str(folder), "--address", "127.0.0.1:1"])
        )  # fmt: skip

    async def call(job: Any) -> Any:
        return job, await st.acli(*job[3], address=False, timeout=60)

    for (label, field, path, _args), r in await bounded(jobs, call, limit=4):
        line = one_line_error(r)
        assert f"{path}: {field}: " in line, (label, field, line)
        tail = line.split(f"{path}: {field}: ", 1)[1]
        assert len(tail.strip()) > 3, (label, line)  # a reason follows the field


async def test_a_charter_path_that_is_not_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "charters"
    (folder / "refund-agent.toml").mkdir(parents=True)
    st = Stack(tmp_path / "cli")
    results = [
        await st.acli("audit", "--charters", str(folder), address=False),
        await st.acli("worker", "--charters", str(folder), "--address", "127.0.0.1:1", address=False),
    ]
    audit, worker = results
    for r in results:
        expect("Traceback" not in r.stderr + r.stdout and r.returncode == 1, f"{r}")
    # The audit reports on stdout, a verdict per question; the worker refuses in one line.
    shown = " ".join(audit.stdout.split())  # a detail wraps at the terminal's width
    expect(f"{folder / 'refund-agent.toml'}: (file): is a directory" in shown, f"{audit}")
    expect("NOT READY" in audit.stdout, f"{audit}")
    line = one_line_error(worker)
    expect(str(folder / "refund-agent.toml") in line and "is a directory" in line, f"{worker}")


# ---------------------------------------------------------------------------- batch files


async def test_a_batch_decides_exactly_what_it_lists_and_names_each_refusal(
    module_stack: Stack, tmp_path: Path
) -> None:
    st = module_stack
    first, second = await fresh_run(st), await fresh_run(st)
    batch = tmp_path / "batch.json"
    entries = [
        {"workflow_id": first, "id": "r1"},
        {"workflow_id": second, "id": "r1"},
        {"workflow_id": first, "id": "r1"},  # listed twice: decided once
        {"workflow_id": "no-such-run", "id": "r1"},
        {"workflow_id": first, "id": "r9"},
    ]
    batch.write_text(json.dumps(entries), encoding="utf-8")
    r = await st.acli("approve", "--batch", str(batch), "--as", RAJ, "--reason", "batch")
    line = one_line_error(r)
    assert "2 of 4 decision(s) refused" in line, r
    assert "approved 2 of 4 request(s) as raj@example.com" in r.stdout, r
    assert "refused r1 of no-such-run: no workflow with id 'no-such-run'" in r.stdout, r
    assert f"refused r9 of {first}: no approval request 'r9' in this run" in r.stdout, r
    for workflow_id in (first, second):
        status = await st.wait_pending(workflow_id, "notify_customer")
        assert [(d.request_id, d.approver) for d in status.decisions] == [("r1", RAJ)]

    for content, why in [
        ("{not json", "not JSON"),
        ('{"workflow_id": "x", "id": "r1"}', "expected a JSON list"),
        ('[{"workflow_id": "x"}]', "entry 0: id is missing"),
        ("[]", "lists no request"),
    ]:
        batch.write_text(content, encoding="utf-8")
        bad = await st.acli("approve", "--batch", str(batch), "--as", RAJ)
        assert why in one_line_error(bad) and str(batch) in bad.stderr, bad
    both = await st.acli("approve", first, "--batch", str(batch), "--as", RAJ)
    assert "leave out WORKFLOW_ID" in one_line_error(both), both
