"""Kill criteria: the monitor pauses, cancels or rolls back a fleet; only the stop/go owner resumes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    CountWorkflowsInput,
    Interceptor,
    OutboundInterceptor,
    WorkflowExecutionCount,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import mandate.activities.shop as shop
from mandate import api
from mandate.activities.metrics import compute_metrics
from mandate.authority import Authority
from mandate.charter import Charter
from mandate.contract import MONITOR_WORKFLOW, PAUSE_MEMO, monitor_id
from mandate.errors import DecisionRefusedError, MandateError
from mandate.keys import ensure_demo_keys
from mandate.outcomes import MetricsQuery, PauseNotice, PauseState
from mandate.run import AgentResult, RunState, StepStatus
from mandate.tools import ToolRegistry, registry, tool
from mandate.worker import build_worker, start_monitors
from mandate.workflows.monitor import KillMonitor
from tests.agents import TEST_AGENTS
from tests.conftest import DEMO_PEOPLE
from tests.helpers import eventually, finished, signed_decision, signed_kill, status_of, wait_pending

SAM, RAJ, QI, BOB = "sam@example.com", "raj@example.com", "qi@example.com", "bob@example.com"


@pytest.fixture(autouse=True)
def fresh_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own shop database (the worker's tools read MANDATE_HOME per call), and the demo
    keys `mandate dev` would make there (keys are read from MANDATE_HOME too)."""
    monkeypatch.setenv("MANDATE_HOME", str(tmp_path))
    ensure_demo_keys(DEMO_PEOPLE)
    return tmp_path


def charter_for(agent: str, base: Charter, **kill: Any) -> Charter:
    data = base.model_dump(mode="json")
    data["name"] = agent
    data["workflow"] = TEST_AGENTS[agent].__temporal_workflow_definition.name  # type: ignore[attr-defined]
    data["kill_criteria"] = {"window": "1h", "min_samples": 2, "check_every": "1s", "action": "pause", **kill}
    return Charter.model_validate(data)


async def start(
    client: Client, charters: dict[str, Charter], agent: str, task_queue: str, order_id: int, **kw
):
    workflow_id = await api.start_agent(
        client,
        charters,
        agent,
        input={"order_id": order_id, "reason": kw.pop("reason", "arrived damaged")},
        requested_by=BOB,
        task_queue=task_queue,
    )
    return client.get_workflow_handle(workflow_id, result_type=AgentResult)


async def paused(client: Client, agent: str) -> PauseState | None:
    state = await api.pause_state(client, agent)
    return state if state and state.paused else None


def refunds(home: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(home / "shop.db") as db:
        return db.execute("SELECT order_id, status FROM refunds ORDER BY order_id").fetchall()


def order_status(home: Path, order_id: int) -> str:
    with sqlite3.connect(home / "shop.db") as db:
        return db.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()[0]


@pytest_asyncio.fixture(autouse=True)
async def no_monitor_left(client, task_queue, monkeypatch):
    """Monitors are one per agent: end this test's so that the next test starts its own."""
    monkeypatch.setenv("MANDATE_TASK_QUEUE", task_queue)  # the API talks only to a monitor on this queue
    yield
    for agent in TEST_AGENTS:
        with contextlib.suppress(RPCError):  # not started by this test, or already ended
            await client.get_workflow_handle(monitor_id(agent)).terminate("test finished")


@pytest_asyncio.fixture
async def fleet(client, task_queue, charters):
    """A worker serving refund-a with kill criteria that never trip on their own, and its monitor."""
    served = {"refund-a": charter_for("refund-a", charters["refund-agent"], min_samples=1000)}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        await start_monitors(client, served, task_queue=task_queue)
        yield served


def _by_type(served: dict[str, Charter]) -> dict[str, Any]:
    return {c.workflow: TEST_AGENTS[name] for name, c in served.items()}


async def _refunded_and_waiting_for_notice(client, handle) -> None:
    await wait_pending(handle, "issue_refund")
    await handle.signal("approve", await signed_decision(handle, RAJ))
    await wait_pending(handle, "notify_customer")


async def test_kill_with_rollback_undoes_refunds_and_ends_waiting_runs(client, fleet, task_queue, fresh_shop):
    done1 = await start(client, fleet, "refund-a", task_queue, 1017)
    done2 = await start(client, fleet, "refund-a", task_queue, 1018)
    waiting = await start(client, fleet, "refund-a", task_queue, 1019)
    await _refunded_and_waiting_for_notice(client, done1)
    await _refunded_and_waiting_for_notice(client, done2)
    await wait_pending(waiting, "issue_refund")
    assert refunds(fresh_shop) == [(1017, "issued"), (1018, "issued")]

    with pytest.raises(DecisionRefusedError, match="raj@example.com is not the stop/go owner"):
        await api.kill_agent(client, "refund-a", by=RAJ, reason="looks wrong", rollback=True)
    decision = await api.kill_agent(client, "refund-a", by=SAM, reason="refunds look wrong", rollback=True)
    assert decision.action == "rollback"
    assert sorted(decision.workflows) == sorted([done1.id, done2.id, waiting.id])

    for handle in (done1, done2):
        result = await finished(handle)
        assert result.state is RunState.ROLLED_BACK
        status = await status_of(handle)
        assert status.killed is not None and status.killed.by == SAM
        assert [(c.tool, c.status) for c in status.compensations] == [("issue_refund", "done")]
        assert status.pending == [] and status.requests[-1].status.value == "dropped"
    assert refunds(fresh_shop) == [(1017, "reversed"), (1018, "reversed")]
    assert order_status(fresh_shop, 1017) == order_status(fresh_shop, 1018) == "delivered"

    result = await finished(waiting)
    status = await status_of(waiting)
    assert result.state is RunState.ROLLED_BACK and status.compensations == []
    assert [s.status for s in status.steps if s.tool == "issue_refund"] == [StepStatus.DROPPED]
    assert (1019, "issued") not in refunds(fresh_shop)

    # paused: published in the monitor's memo, where `mandate start` reads it (one describe, no query)
    notice = await (await client.get_workflow_handle(monitor_id("refund-a")).describe()).memo_value(
        PAUSE_MEMO, type_hint=PauseNotice
    )
    assert notice == PauseNotice(paused=True, stop_go_owner=SAM, by=SAM, reason="refunds look wrong")
    # starts are refused, naming the breach and the stop/go owner
    with pytest.raises(
        api.AgentPausedError, match="paused by sam@example.com .*only its stop/go owner sam@example.com"
    ):
        await start(client, fleet, "refund-a", task_queue, 1022)
    with pytest.raises(DecisionRefusedError, match="not the stop/go owner"):
        await api.resume_agent(client, "refund-a", by=RAJ, reason="fine now")
    state = await api.resume_agent(client, "refund-a", by=SAM, reason="bug fixed")
    assert not state.paused and state.since is not None
    assert await api.pause_notice(client, "refund-a") == PauseNotice(paused=False, stop_go_owner=SAM)
    again = await start(client, fleet, "refund-a", task_queue, 1022)
    await wait_pending(again, "issue_refund")
    decisions = await api.kill_decisions(client, "refund-a")
    assert [(d.action, d.by) for d in decisions] == [("rollback", SAM), ("resume", SAM)]


async def test_kill_one_run_without_rollback_keeps_the_fleet_running(client, fleet, task_queue, fresh_shop):
    one = await start(client, fleet, "refund-a", task_queue, 1023)
    other = await start(client, fleet, "refund-a", task_queue, 1024)
    await _refunded_and_waiting_for_notice(client, one)
    await wait_pending(other, "issue_refund")
    decision = await api.kill_agent(client, "refund-a", by=SAM, reason="this one only", workflow_id=one.id)
    assert decision.workflows == [one.id]
    result = await finished(one)
    assert result.state is RunState.KILLED
    assert refunds(fresh_shop) == [(1023, "issued")]  # killed, not rolled back
    assert await paused(client, "refund-a") is None
    assert (await status_of(other)).state is RunState.WAITING_APPROVAL


async def test_kill_signal_from_a_stranger_is_refused_and_recorded(client, fleet, task_queue):
    handle = await start(client, fleet, "refund-a", task_queue, 1025)
    await wait_pending(handle, "issue_refund")
    await handle.signal("kill", await signed_kill(handle, "mallory@example.com", reason="x", rollback=True))
    await handle.signal("kill", "stop")
    status = await eventually(lambda: _refused(handle, 2), what="refused kills")
    assert status.killed is None and status.state is RunState.WAITING_APPROVAL
    assert "mallory@example.com is not the stop/go owner" in status.refused[0].reason
    await handle.signal("kill", await signed_kill(handle, SAM, reason="stop it"))
    assert (await finished(handle)).state is RunState.KILLED


async def _refused(handle, n):
    status = await status_of(handle)
    return status if status.refused_total >= n else None


# ------------------------------------------------------------------ the monitor trips on each kind


async def _reject(handle) -> None:
    await wait_pending(handle, "issue_refund")
    await handle.signal("reject", await signed_decision(handle, SAM, approve=False, reason="no"))
    await finished(handle)


async def _approve_all(handle) -> None:
    await wait_pending(handle, "issue_refund")
    await handle.signal("approve", await signed_decision(handle, RAJ))
    await wait_pending(handle, "notify_customer")
    await handle.signal("approve", await signed_decision(handle, QI))
    await finished(handle)


async def _fail(client, charters, agent, task_queue) -> None:
    workflow_id = await api.start_agent(
        client, charters, agent, input={"order_id": "nope"}, requested_by=BOB, task_queue=task_queue
    )
    try:
        await finished(client.get_workflow_handle(workflow_id))
    except WorkflowFailureError:  # the run is meant to fail (not time out, nor an RPC error)
        return
    raise AssertionError("the run did not fail")


@pytest.mark.parametrize(
    ("agent", "threshold", "make_runs", "metric"),
    [
        ("refund-b", {"max_rework_rate": 0.25}, "reject", "rework_rate"),
        ("refund-c", {"max_exception_rate": 0.10}, "fail", "exception_rate"),
        ("refund-d", {"max_cost_per_workflow": 0.001}, "approve", "cost_per_completed"),
    ],
)
async def test_monitor_trips_on_threshold(client, task_queue, charters, agent, threshold, make_runs, metric):
    served = {agent: charter_for(agent, charters["refund-agent"], **threshold)}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        await start_monitors(client, served, task_queue=task_queue)
        for order_id in (1026, 1027):
            if make_runs == "fail":
                await _fail(client, served, agent, task_queue)
            else:
                handle = await start(client, served, agent, task_queue, order_id)
                await (_reject(handle) if make_runs == "reject" else _approve_all(handle))
        state = await eventually(lambda: paused(client, agent), timeout=30, what=f"{agent} paused")
    assert state.decision is not None and state.decision.by == "mandate-monitor"
    evaluation = state.decision.evaluation
    assert evaluation is not None and [b.metric for b in evaluation.breaches] == [metric]
    assert evaluation.metrics.runs == 2


async def test_monitor_trips_on_escalations_and_rolls_back(client, task_queue, charters, fresh_shop):
    """One run is refunded and waits on its notice; a second run escalates; the monitor rolls both back.

    The refunded run must not race its own approval timeout, so it starts under a worker whose charter
    gives issue_refund the shipped four hours; the worker that follows (same agent, same kill criteria)
    gives it one second, so the second run escalates. The first run keeps the charter it started with
    (it is in its history), so its refund stands until the monitor's rollback reverses it.
    """
    kill = {"max_escalation_rate": 0.3, "action": "rollback"}
    patient = charter_for("refund-e", charters["refund-agent"], **kill)
    hasty = patient.model_dump(mode="json")
    hasty["tools"]["issue_refund"]["approval_timeout"] = "1s"
    served = {"refund-e": patient}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        await start_monitors(client, served, task_queue=task_queue)
        refunded = await start(client, served, "refund-e", task_queue, 1031)
        await _refunded_and_waiting_for_notice(client, refunded)
        # The refund happened, with no escalation, and one run is below min_samples: nothing trips yet.
        assert refunds(fresh_shop) == [(1031, "issued")]
        assert (await status_of(refunded)).escalations == 0
        assert await paused(client, "refund-e") is None

    served = {"refund-e": Charter.model_validate(hasty)}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        escalating = await start(client, served, "refund-e", task_queue, 1032)
        await eventually(lambda: _escalated(escalating), what="escalation")
        state = await eventually(lambda: paused(client, "refund-e"), timeout=60, what="refund-e paused")
        assert state.decision is not None and state.decision.action == "rollback"
        assert [b.metric for b in state.decision.evaluation.breaches] == ["escalation_rate"]
        # The pause shows at once; the decision is kept, with the runs it touched, once they were told.
        (decision,) = await eventually(lambda: api.kill_decisions(client, "refund-e"), what="the kill enforced")
        assert decision.action == "rollback" and refunded.id in decision.workflows, decision
        result = await finished(refunded)
        status = await status_of(refunded)
        assert result.state is RunState.ROLLED_BACK
        assert [(c.tool, c.status) for c in status.compensations] == [("issue_refund", "done")]
        # The escalated run had refunded nothing: rolled back if still waiting, else rejected by its timeout.
        result = await finished(escalating)
        assert result.state in (RunState.ROLLED_BACK, RunState.COMPLETED), result
    assert refunds(fresh_shop) == [(1031, "reversed")]
    assert order_status(fresh_shop, 1031) == "delivered"


async def _escalated(handle):
    status = await status_of(handle)
    return status if status.escalations else None


async def test_monitor_does_not_trip_below_min_samples(client, task_queue, charters):
    served = {
        "refund-f": charter_for("refund-f", charters["refund-agent"], min_samples=5, max_rework_rate=0.1)
    }
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        await start_monitors(client, served, task_queue=task_queue)
        for order_id in (1033, 1034):
            await _reject(await start(client, served, "refund-f", task_queue, order_id))
        monitor = client.get_workflow_handle(monitor_id("refund-f"))

        async def evaluated_both():
            evaluation = await monitor.query(KillMonitor.last_evaluation)
            return evaluation if evaluation and evaluation.metrics.runs == 2 else None

        evaluation = await eventually(evaluated_both, what="an evaluation of both runs")
        assert evaluation.metrics.rework_rate == 1.0
        assert not evaluation.enough_samples and evaluation.breaches == []
        assert await paused(client, "refund-f") is None


async def test_metrics_match_hand_counted_runs(client, task_queue, charters):
    served = {"refund-g": charter_for("refund-g", charters["refund-agent"], min_samples=1000)}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        await _approve_all(await start(client, served, "refund-g", task_queue, 1036))  # completed, cost .018
        await _approve_all(await start(client, served, "refund-g", task_queue, 1037))  # completed, cost .018
        await _reject(await start(client, served, "refund-g", task_queue, 1038))  # completed, rework, .003
        await _fail(client, served, "refund-g", task_queue)  # failed: exception
        blocked = await start(client, served, "refund-g", task_queue, 1039, reason="delete my account")
        await _reject(blocked)  # violation + rework, .003
        waiting = await start(client, served, "refund-g", task_queue, 1041)
        await wait_pending(waiting, "issue_refund")  # running, .003

        async def settled():
            m = await compute_metrics(client, MetricsQuery(agent="refund-g", window_seconds=3600))
            return m if m.runs == 6 and m.completed == 4 and abs(m.total_cost - 0.045) < 1e-9 else None

        m = await eventually(settled, what="visibility to settle")
    assert (m.running, m.failed) == (1, 1)
    assert (m.rework_runs, m.exception_runs, m.escalated_runs) == (2, 2, 0)
    assert m.exception_causes == {"failed": 1, "policy violation": 1}  # what `mandate metrics` says it counted
    assert m.rework_rate == round(2 / 6, 4) and m.exception_rate == round(2 / 6, 4)
    assert m.cost_per_completed == round(0.045 / 4, 6)
    assert m.throughput_per_hour == pytest.approx(4.0)
    # A server that cannot count GROUP BY ExecutionStatus gets four counts instead, and the same metrics.
    older = Client(client.service_client, namespace=client.namespace, interceptors=[_NoGroupBy()])
    same = await compute_metrics(older, MetricsQuery(agent="refund-g", window_seconds=3600), now=m.window_end)
    assert same.model_dump(exclude={"window_start"}) == m.model_dump(exclude={"window_start"})


class _NoGroupBy(Interceptor):
    """Refuses a grouped count as a server without it does."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        class _Refuse(OutboundInterceptor):
            async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
                if input.query and "GROUP BY" in input.query:
                    raise RPCError("GROUP BY is not supported", RPCStatusCode.INVALID_ARGUMENT, b"")
                return await super().count_workflows(input)

        return _Refuse(next)


def shop_tools_except_reverse() -> ToolRegistry:
    """A registry with the shop's tools but reverse_refund, which each test declares its own way."""
    tools = ToolRegistry()
    for name in ("lookup_order", "check_refund_policy", "issue_refund", "notify_customer", "delete_customer"):
        spec = registry.get(name)
        assert spec is not None
        tool(
            authority=spec.authority,
            cost=spec.cost,
            compensation=spec.compensation,
            irreversible=spec.irreversible,
            into=tools,
        )(spec.fn)
    return tools


async def test_a_compensation_that_fails_once_is_retried(client, task_queue, charters, fresh_shop):
    tools = shop_tools_except_reverse()

    @tool(authority=Authority.WRITE, compensates="issue_refund", name="reverse_refund", into=tools)
    async def flaky_reverse(args: shop.ReverseRefundArgs) -> shop.ReversalReceipt:
        if activity.info().attempt == 1:
            raise ApplicationError("payment provider timed out")
        return await shop.reverse_refund(args)

    served = {"refund-a": charter_for("refund-a", charters["refund-agent"], min_samples=1000)}
    async with build_worker(
        client, task_queue=task_queue, charters=served, workflows=_by_type(served), tools=tools
    ):
        await start_monitors(client, served, task_queue=task_queue)
        handle = await start(client, served, "refund-a", task_queue, 1043)
        await _refunded_and_waiting_for_notice(client, handle)
        kill = await signed_kill(handle, SAM, reason="undo it", rollback=True)
        order = {"by": SAM, "reason": "undo it", "rollback": True, "statement": kill}
        await handle.execute_update("kill", order)
        result = await finished(handle)
        status = await status_of(handle)
    assert result.state is RunState.ROLLED_BACK
    assert [(c.tool, c.status) for c in status.compensations] == [("issue_refund", "done")]
    assert refunds(fresh_shop) == [(1043, "reversed")]
    # The history shows the retry: one reverse_refund scheduled, started on its second attempt after the failure.
    history = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.event_id
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "reverse_refund"
    ]
    started = [
        e.activity_task_started_event_attributes
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    assert len(scheduled) == len(started) == 1, (scheduled, started)
    assert started[0].attempt == 2, started[0]
    assert started[0].last_failure.message == "payment provider timed out", started[0].last_failure


async def test_monitor_survives_a_worker_restart(client, task_queue, charters):
    served = {"refund-a": charter_for("refund-a", charters["refund-agent"], min_samples=1000)}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        first = await start_monitors(client, served, task_queue=task_queue)
    run_before = (await client.get_workflow_handle(first[0]).describe()).run_id
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        await start_monitors(client, served, task_queue=task_queue)  # idempotent: the same monitor
        desc = await client.get_workflow_handle(first[0]).describe()
        assert desc.run_id == run_before and desc.status is not None and desc.status.name == "RUNNING"
        decision = await api.kill_agent(client, "refund-a", by=SAM, reason="after restart")
        assert decision.action == "cancel"
        assert (await paused(client, "refund-a")) is not None
        await api.resume_agent(client, "refund-a", by=SAM, reason="done")


async def test_monitor_continues_as_new_and_keeps_its_pause(client, task_queue, charters):
    from mandate.workflows.monitor import MonitorInput

    served = {"refund-a": charter_for("refund-a", charters["refund-agent"], min_samples=1000)}
    async with build_worker(client, task_queue=task_queue, charters=served, workflows=_by_type(served)):
        handle = await client.start_workflow(
            KillMonitor.run,
            MonitorInput(agent="refund-a", checks_per_run=2),
            id=monitor_id("refund-a"),
            task_queue=task_queue,
        )
        first_run = (await handle.describe()).run_id
        await api.kill_agent(client, "refund-a", by=SAM, reason="hold")

        async def new_run():
            desc = await client.get_workflow_handle(monitor_id("refund-a")).describe()
            return desc if desc.run_id != first_run else None

        await eventually(new_run, timeout=15, what="continue-as-new")
        state = await paused(client, "refund-a")
        assert state is not None and state.decision is not None and state.decision.reason == "hold"
        assert [d.by for d in await api.kill_decisions(client, "refund-a")] == [SAM]


async def test_rollback_finishes_even_when_the_workflow_is_cancelled(
    client, task_queue, charters, fresh_shop
):
    """A Temporal cancel that lands while a compensation runs must not cancel it or the rollback.

    The compensation holds (inside the activity, before it writes) until the cancel request is in the
    run's history, so the cancel arrives mid-rollback by construction; the history then shows the
    order: compensation scheduled, cancel requested, compensation completed, run completed.
    """
    tools = shop_tools_except_reverse()
    running, release = asyncio.Event(), asyncio.Event()

    @tool(authority=Authority.WRITE, compensates="issue_refund", name="reverse_refund", into=tools)
    async def held_reverse(args: shop.ReverseRefundArgs) -> shop.ReversalReceipt:
        running.set()
        await asyncio.wait_for(release.wait(), timeout=120)
        return await shop.reverse_refund(args)

    served = {"refund-a": charter_for("refund-a", charters["refund-agent"], min_samples=1000)}
    async with build_worker(
        client, task_queue=task_queue, charters=served, workflows=_by_type(served), tools=tools
    ):
        handle = await start(client, served, "refund-a", task_queue, 1045)
        await _refunded_and_waiting_for_notice(client, handle)
        assert refunds(fresh_shop) == [(1045, "issued")]
        await handle.signal("kill", await signed_kill(handle, SAM, reason="undo", rollback=True))
        await asyncio.wait_for(running.wait(), timeout=60)  # the compensation is running
        await handle.cancel()
        await eventually(lambda: _events(handle, CANCEL_REQUESTED), what="the cancel request in the history")
        assert refunds(fresh_shop) == [(1045, "issued")]  # not reversed yet: the rollback is under way
        release.set()
        result = await finished(handle)
        status = await status_of(handle)
    assert result.state is RunState.ROLLED_BACK
    assert [(c.tool, c.status) for c in status.compensations] == [("issue_refund", "done")]
    assert refunds(fresh_shop) == [(1045, "reversed")]

    history = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.event_id
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "reverse_refund"
    ]
    assert len(scheduled) == 1, scheduled
    completed = [
        e.event_id
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled[0]
    ]
    cancelled = [e.event_id for e in history if e.event_type == CANCEL_REQUESTED]
    assert len(completed) == len(cancelled) == 1, (completed, cancelled)
    assert scheduled[0] < cancelled[0] < completed[0], (scheduled, cancelled, completed)
    # The run did not pass the cancel on to the compensation, and it ended completed, not cancelled.
    assert not [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED]
    assert history[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


CANCEL_REQUESTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED


async def _events(handle, event_type) -> list[Any]:
    return [e async for e in handle.fetch_history_events() if e.event_type == event_type]


async def test_a_workflow_at_the_monitors_id_that_is_no_monitor_is_not_taken_for_one(client):
    """Whoever can start workflows could put one of their own at an agent's monitor id (while none runs),
    with a memo saying "not paused": the pause is read only from a MandateMonitor, else refused in a line."""
    agent = sorted(TEST_AGENTS)[0]
    await client.start_workflow(
        "NotAMonitor", id=monitor_id(agent), task_queue="nobody-polls", memo={PAUSE_MEMO: {"paused": False}}
    )
    with pytest.raises(MandateError, match=f"is a NotAMonitor run, not a {MONITOR_WORKFLOW}"):
        await api.pause_notice(client, agent)
