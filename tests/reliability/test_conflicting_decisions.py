"""Duplicate and conflicting decisions: exactly one outcome per request, and it is recorded.

Every decision here names its request (``--request r1``): a decision without one binds to whatever
is pending when it arrives, which after the first decision may already be the *next* request.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from mandate.decisions import DecideInput, Decision, DecisionKind, RequestStatus
from mandate.run import RunState, StepStatus
from mandate.statements import SignedStatement
from tests.helpers import decision_statement, one_line_error, signed_decision
from tests.reliability._harness import (
    ELIGIBLE,
    QI,
    RAJ,
    SAM,
    Result,
    Stack,
    bounded,
    expect,
)

ORDERS = iter(ELIGIBLE)


async def pending_run(st: Stack) -> tuple[str, int]:
    order_id = next(ORDERS)
    workflow_id = await st.start_run(order_id)
    await st.wait_pending(workflow_id, "issue_refund")
    return workflow_id, order_id


async def signal(st: Stack, workflow_id: str, name: str, payload: dict[str, Any]) -> str:
    """'sent', or 'closed' when the run had already ended (Temporal refuses a signal to a closed run)."""
    try:
        await st.handle(workflow_id).signal(name, payload)
    except RPCError as err:
        assert "completed" in err.message or "not found" in err.message.lower(), err
        return "closed"
    return "sent"


async def signed(
    st: Stack, workflow_id: str, kind: str, who: str, request: str, reason: str = ""
) -> dict[str, Any]:
    """``who``'s decision on ``request``, signed with their key as `mandate sign` prints it (a signal's
    input)."""
    return await signed_decision(
        st.handle(workflow_id), who, approve=kind == "approve", reason=reason, request_id=request
    )


async def update(
    st: Stack,
    workflow_id: str,
    kind: str,
    approver: str,
    request: str,
    *,
    statement: SignedStatement | None = None,
    **kw: Any,
) -> Decision | str:
    """The accepted decision, or the refusal's message. The decision is signed by ``approver`` (``statement``
    if given, else signed here), as `mandate approve` sends it."""
    reason = kw.get("reason", "r")
    if statement is None:
        statement = await decision_statement(
            st.handle(workflow_id), approver, approve=kind == "approve", reason=reason, request_id=request
        )
    arg = DecideInput(
        request_id=request, approver=approver, reason=reason, decision=DecisionKind(kind), statement=statement
    )
    try:
        return await st.handle(workflow_id).execute_update(
            "decide", arg, result_type=Decision, id=kw.get("id")
        )
    except WorkflowUpdateFailedError as err:
        return str(getattr(err.cause, "message", err.cause))
    except RPCError as err:
        return f"rpc: {err.message}"


def decisions_for(status: Any, request: str) -> list[Decision]:
    return [d for d in status.decisions if d.request_id == request]


def refunds_of(st: Stack, order_id: int) -> list[str]:
    return [status for order, status, _ in st.refunds() if order == order_id]


# ---------------------------------------------------------------------------- two approvers at once


async def test_two_approvers_at_once_one_outcome_per_request(module_stack: Stack) -> None:
    """Per run: two CLI approvals, a CLI rejection, a signal approval and an update rejection, all at once."""
    st = module_stack
    runs = [await pending_run(st) for _ in range(4)]

    async def contest(workflow_id: str) -> tuple[list[Result], str, Decision | str]:
        # The signal's and the update's decisions are signed before the race, as each sender would have.
        by_signal = await signed(st, workflow_id, "approve", SAM, "r1", reason="by signal")
        handle = st.handle(workflow_id)
        by_update = await decision_statement(handle, RAJ, approve=False, reason="by update", request_id="r1")
        cli = [
            st.acli("approve", workflow_id, "--as", RAJ, "--request", "r1", "--reason", "raj says yes"),
            st.acli("approve", workflow_id, "--as", SAM, "--request", "r1", "--reason", "sam says yes"),
            st.acli("reject", workflow_id, "--as", SAM, "--request", "r1", "--reason", "sam says no"),
        ]
        sig = signal(st, workflow_id, "approve", by_signal)
        upd = update(st, workflow_id, "reject", RAJ, "r1", reason="by update", statement=by_update)
        *results, sig_result, upd_result = await asyncio.gather(*cli, sig, upd)
        return results, sig_result, upd_result

    contests = await asyncio.gather(*(contest(w) for w, _ in runs))
    for (workflow_id, order_id), (cli_results, sig_result, upd_result) in zip(runs, contests, strict=True):
        status = await st.wait_status(
            workflow_id,
            "r1 decided",
            lambda s: any(r.id == "r1" and r.status is not RequestStatus.PENDING for r in s.requests),
        )
        r1 = decisions_for(status, "r1")
        assert len(r1) == 1, r1
        winner = r1[0]
        won_by_update = [r for r in cli_results if r.ok] + (
            [upd_result] if isinstance(upd_result, Decision) else []
        )
        if winner.channel.value == "signal":
            assert won_by_update == [], won_by_update
        else:
            assert len(won_by_update) == 1, (winner, won_by_update)
        for r in cli_results:
            if not r.ok:
                line = one_line_error(r)
                assert "already" in line or "nothing left to decide" in line, line
        # The losing signal is on record (or the run had ended and Temporal refused it outright).
        if winner.channel.value != "signal" and sig_result == "sent":
            status = await st.wait_status(
                workflow_id, "the losing signal recorded", lambda s: s.refused_total >= 1
            )
            assert any("r1 is already" in r.reason for r in status.refused), status.refused
        # Finish: the notice, if the refund was approved.
        if winner.kind is DecisionKind.APPROVE:
            await st.wait_pending(workflow_id, "notify_customer")
            assert (await st.acli("approve", workflow_id, "--as", QI, "--request", "r2")).ok
        result = await st.result(workflow_id)
        assert result.outcome == ("refunded" if winner.kind is DecisionKind.APPROVE else "refund_rejected"), (
            result
        )
        assert refunds_of(st, order_id) == (["issued"] if winner.kind is DecisionKind.APPROVE else [])


# ---------------------------------------------------------------------------- approve after reject


async def test_approve_after_reject_changes_nothing(module_stack: Stack) -> None:
    st = module_stack
    workflow_id, order_id = await pending_run(st)
    rejected = await st.acli(
        "reject", workflow_id, "--as", SAM, "--request", "r1", "--reason", "not eligible"
    )
    assert rejected.ok, rejected

    approved = await st.acli(
        "approve", workflow_id, "--as", RAJ, "--request", "r1", "--reason", "changed my mind"
    )
    line = one_line_error(approved)
    assert "already rejected by sam@example.com" in line or "nothing left to decide" in line, line
    by_signal = await signal(st, workflow_id, "approve", await signed(st, workflow_id, "approve", RAJ, "r1"))
    again = await update(st, workflow_id, "approve", RAJ, "r1")
    assert isinstance(again, str), again

    result = await st.result(workflow_id)
    assert result.outcome == "refund_rejected"
    status = await st.status(workflow_id)
    assert [(d.request_id, d.kind.value, d.approver) for d in status.decisions] == [("r1", "reject", SAM)]
    if by_signal == "sent":
        assert status.refused_total == 1 and "already rejected" in status.refused[0].reason, status.refused
    assert refunds_of(st, order_id) == []


async def test_approve_twice_by_the_same_person_is_one_decision(module_stack: Stack) -> None:
    st = module_stack
    workflow_id, order_id = await pending_run(st)
    first, second = await asyncio.gather(
        st.acli("approve", workflow_id, "--as", RAJ, "--request", "r1"),
        st.acli("approve", workflow_id, "--as", RAJ, "--request", "r1"),
    )
    assert sorted([first.ok, second.ok]) == [False, True], (first, second)
    one_line_error(second if first.ok else first)
    status = await st.wait_pending(workflow_id, "notify_customer")
    assert len(decisions_for(status, "r1")) == 1
    assert refunds_of(st, order_id) == ["issued"]


# ---------------------------------------------------------------------------- decision after kill


async def test_a_decision_after_the_run_is_killed_is_refused(module_stack: Stack) -> None:
    st = module_stack
    waiting, waiting_order = await pending_run(st)
    refunded, refunded_order = await pending_run(st)
    assert (await st.acli("approve", refunded, "--as", RAJ, "--request", "r1")).ok
    await st.wait_pending(refunded, "notify_customer")
    assert refunds_of(st, refunded_order) == ["issued"]

    killed = await st.acli(
        "kill", "refund-agent", "--workflow", waiting, "--as", SAM, "--reason", "incident 1"
    )
    assert killed.ok, killed
    rolled = await st.acli(
        "kill", "refund-agent", "--workflow", refunded, "--rollback", "--as", SAM, "--reason", "incident 2"
    )
    assert rolled.ok, rolled
    assert (await st.result(waiting)).state is RunState.KILLED
    assert (await st.result(refunded)).state is RunState.ROLLED_BACK

    # Both runs have ended: the CLI says so and decides nothing, Temporal refuses a signal outright.
    for workflow_id, request in ((waiting, "r1"), (refunded, "r2")):
        late = await st.acli(
            "approve", workflow_id, "--as", RAJ if request == "r1" else QI, "--request", request
        )
        line = one_line_error(late)
        assert f"{workflow_id} is completed; there is nothing left to decide" in line, line
        sent = await signal(
            st, workflow_id, "approve", await signed(st, workflow_id, "approve", RAJ, request)
        )
        assert sent == "closed", sent
        status = await st.status(workflow_id)
        assert all(d.channel.value != "signal" for d in status.decisions)
        dropped = next(r for r in status.requests if r.id == request)
        assert (
            dropped.status is RequestStatus.DROPPED
            and dropped.decision
            and dropped.decision.channel.value == "kill"
        )
    assert refunds_of(st, waiting_order) == []
    assert refunds_of(st, refunded_order) == ["reversed"]
    assert not [n for n in st.notifications() if n[0] in (waiting_order, refunded_order)]


# ---------------------------------------------------------------------------- the same update id twice


async def test_the_same_update_id_sent_twice_is_one_decision(module_stack: Stack) -> None:
    st = module_stack
    workflow_id, order_id = await pending_run(st)
    once = await decision_statement(
        st.handle(workflow_id), RAJ, reason="once", request_id="r1"
    )  # one decision
    first, second = await asyncio.gather(
        update(st, workflow_id, "approve", RAJ, "r1", id="dup-1", reason="once", statement=once),
        update(st, workflow_id, "approve", RAJ, "r1", id="dup-1", reason="once", statement=once),
    )
    assert isinstance(first, Decision) and first == second, (first, second)
    assert first.update_id == "dup-1"
    # Later, the same id with different content still returns the first outcome: Temporal keys on the id.
    third = await update(st, workflow_id, "reject", SAM, "r1", id="dup-1", reason="other")
    assert third == first, third
    # A new id for the same request is a second decision, and is refused.
    fourth = await update(st, workflow_id, "approve", SAM, "r1", id="dup-2")
    assert isinstance(fourth, str) and "already approved by raj@example.com" in fourth, fourth

    status = await st.wait_pending(workflow_id, "notify_customer")
    assert [(d.request_id, d.approver, d.update_id) for d in status.decisions] == [("r1", RAJ, "dup-1")]
    accepted = Counter()
    async for event in st.handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted[
                event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            ] += 1
    assert accepted == {"dup-1": 1}
    assert refunds_of(st, order_id) == ["issued"]


# ---------------------------------------------------------------------------- many runs, shuffled


async def test_decisions_for_many_runs_in_shuffled_order(module_stack: Stack) -> None:
    """Each run gets three competing decisions per request by update and signal; all are shuffled together."""
    st = module_stack
    rng = random.Random(7)
    runs = await asyncio.gather(*(pending_run(st) for _ in range(16)))

    def contenders(workflow_id: str, request: str) -> list[tuple[str, str, str, str, str]]:
        people = [RAJ, SAM] if request == "r1" else [RAJ, SAM, QI]
        jobs = []
        for _ in range(3):
            channel = rng.choice(["update", "signal"])
            kind = rng.choice(["approve", "approve", "reject"])
            jobs.append((workflow_id, request, channel, kind, rng.choice(people)))
        return jobs

    async def send(job: tuple[str, str, str, str, str]) -> Any:
        workflow_id, request, channel, kind, who = job
        if channel == "signal":
            return await signal(
                st, workflow_id, kind, await signed(st, workflow_id, kind, who, request, "shuffled")
            )
        return await update(st, workflow_id, kind, who, request, reason="shuffled")

    for request in ("r1", "r2"):
        if request == "r1":
            targets = [w for w, _ in runs]
        else:
            targets = []
            for w, _ in runs:
                s = await st.wait_status(
                    w, "r1 decided and settled", lambda s: s.state is not RunState.RUNNING
                )
                if any(r.id == "r2" for r in s.pending):
                    targets.append(w)
                else:
                    assert s.state is RunState.COMPLETED, s.state
        jobs = [job for w in targets for job in contenders(w, request)]
        rng.shuffle(jobs)
        await bounded(jobs, send, limit=8)

    expected_refunds: dict[int, list[str]] = {}
    for workflow_id, order_id in runs:
        result = await st.result(workflow_id)
        status = await st.status(workflow_id)
        for request in status.requests:
            ones = decisions_for(status, request.id)
            assert len(ones) == 1, (workflow_id, request.id, ones)
            assert request.decision == ones[0]
        r1 = decisions_for(status, "r1")[0]
        expected_refunds[order_id] = ["issued"] if r1.kind is DecisionKind.APPROVE else []
        assert result.outcome == ("refunded" if r1.kind is DecisionKind.APPROVE else "refund_rejected"), (
            result
        )
        notified = [d for d in decisions_for(status, "r2") if d.kind is DecisionKind.APPROVE]
        key = await st.write_key(workflow_id, "r2")
        assert sum(1 for n in st.notifications() if n[1] == key) == len(notified)
    for order_id, expected in expected_refunds.items():
        assert refunds_of(st, order_id) == expected, order_id


# ---------------------------------------------------------------------------- two runs for one order


async def test_two_runs_for_one_order_refund_it_exactly_once(module_stack: Stack) -> None:
    """Both runs find the order refundable and ask; both are approved at once. The shop refunds it once:
    the winner's run goes on to its notice, the other run's refund is refused and that run fails, saying why.
    """
    st = module_stack
    order_id = next(ORDERS)
    first = await st.start_run(order_id)
    second = await st.start_run(order_id, reason="asked twice")
    await st.wait_pending(first, "issue_refund")
    await st.wait_pending(second, "issue_refund")
    assert refunds_of(st, order_id) == []
    approvals = await asyncio.gather(
        *(st.acli("approve", w, "--as", RAJ, "--request", "r1") for w in (first, second))
    )
    assert all(r.ok for r in approvals), approvals

    def refund_step_ended(s: Any) -> bool:
        return any(
            step.tool == "issue_refund"
            and step.status not in (StepStatus.AWAITING_APPROVAL, StepStatus.RUNNING)
            for step in s.steps
        )

    ended = {w: await st.wait_status(w, "the refund step ended", refund_step_ended) for w in (first, second)}
    rows = [(status, key) for order, status, key in st.refunds() if order == order_id]
    expect(
        len(rows) == 1,
        f"order {order_id}: {len(rows)} refund(s) from two approved runs, want exactly one: {rows}",
    )
    keys = {await st.write_key(w, "r1"): w for w in (first, second)}  # <workflow id>:<run id>:r1
    assert rows[0][0] == "issued" and rows[0][1] in keys, rows
    winner = keys[rows[0][1]]
    loser = second if winner == first else first

    # The winner's refund step holds the shop's receipt, and the run asks to notify the customer.
    step = next(x for x in ended[winner].steps if x.tool == "issue_refund")
    assert step.status is StepStatus.COMPLETED and step.result and step.result["order_id"] == order_id, step
    await st.wait_pending(winner, "notify_customer")

    # The loser's refund was refused by the shop (once: a refusal is not retried) and the run failed on it.
    with pytest.raises(WorkflowFailureError):
        await st.result(loser)
    status = await st.status(loser)
    step = next(x for x in status.steps if x.tool == "issue_refund")
    assert step.status is StepStatus.FAILED and step.result is None, step
    assert step.error and f"order {order_id} already has refund" in step.error, step.error
    assert "not refunding it twice" in step.error, step.error
    assert status.state is RunState.FAILED and status.outcome == "failed", (status.state, status.outcome)
    assert status.summary and "not refunding it twice" in status.summary, status.summary
    history = [e async for e in st.handle(loser).fetch_history_events()]
    refund_calls = {
        e.event_id
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "issue_refund"
    }
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in refund_calls
    ]
    assert attempts == [1], attempts
    assert (await st.handle(loser).describe()).status is WorkflowExecutionStatus.FAILED

    assert (await st.acli("approve", winner, "--as", QI, "--request", "r2")).ok
    assert (await st.result(winner)).outcome == "refunded"
    assert refunds_of(st, order_id) == ["issued"]
