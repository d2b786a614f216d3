"""The worker is killed (SIGKILL) while runs wait for approval and while writes are in flight.

A new worker picks up; every run finishes; no order is refunded twice (read from the shop's SQLite
file, not from Mandate's own account of it); every history replays against today's code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState

from mandate import api
from mandate.decisions import DecisionKind
from mandate.run import RunState
from mandate.tools import registry
from tests.reliability._harness import (
    ELIGIBLE,
    INELIGIBLE,
    QI,
    RAJ,
    Stack,
    bounded,
    eventually,
    refunds_per_order,
    replay_failures,
)

# A killed worker's sticky queue is abandoned after 10 s; a new worker on a busy machine may take a while more.
DECIDE_TIMEOUT = timedelta(seconds=120)
# How long the tools' SQLite connection waits for a lock before the attempt fails (and is retried).
SHOP_BUSY_TIMEOUT = 30.0


async def approve_all(st: Stack, workflow_ids: list[str], request: str, approver: str) -> None:
    client = await st.client()

    async def one(workflow_id: str) -> None:
        await api.decide(
            client,
            workflow_id,
            decision=DecisionKind.APPROVE,
            approver=approver,
            reason="reliability",
            request_id=request,
            timeout=DECIDE_TIMEOUT,
        )

    await bounded(workflow_ids, one, limit=8)


async def check_shop(st: Stack, refunded: dict[str, int], all_runs: list[str]) -> None:
    """Each refunded order has exactly one issued refund, written under its run's key; each run one notice."""
    per_order = refunds_per_order(st)
    for workflow_id, order_id in refunded.items():
        assert per_order.get(order_id) == [("issued", await st.write_key(workflow_id, "r1"))], (
            order_id,
            per_order.get(order_id),
        )
    assert sorted(per_order) == sorted(refunded.values()), per_order
    keys = [key for _, key in st.notifications()]
    assert len(keys) == len(set(keys)) == len(all_runs), keys
    # <workflow id>:<run id>:<request>, the notice being r2 of a refunded run and r1 of a declined one
    assert sorted(keys) == sorted([await st.write_key(w, "r2" if w in refunded else "r1") for w in all_runs])


async def test_worker_killed_while_runs_wait_for_approval(stack: Stack) -> None:
    st = stack
    await st.start_worker()
    refunded = {await st.start_run(o): o for o in ELIGIBLE[:6]}
    declined = [await st.start_run(o) for o in INELIGIBLE[:2]]  # they ask to send a notice instead
    runs = [*refunded, *declined]
    for workflow_id in refunded:
        await st.wait_pending(workflow_id, "issue_refund")
    for workflow_id in declined:
        await st.wait_pending(workflow_id, "notify_customer")

    st.workers[0].kill()  # 1: every run waits for its first approval
    await st.start_worker()
    await approve_all(st, list(refunded), "r1", RAJ)
    for workflow_id in refunded:
        await st.wait_pending(workflow_id, "notify_customer")

    st.workers[1].kill()  # 2: every run waits again, the refunds done
    await st.start_worker()
    await approve_all(st, list(refunded), "r2", QI)
    await approve_all(st, declined, "r1", QI)

    results = {w: await st.result(w) for w in runs}
    assert {w: r.outcome for w, r in results.items()} == {
        **{w: "refunded" for w in refunded},
        **{w: "declined" for w in declined},
    }
    assert all(r.state is RunState.COMPLETED for r in results.values())
    await check_shop(st, refunded, runs)
    assert await replay_failures(st, runs) == []


class WriteLock:
    """The shop database's write lock, held by the test as another writer would hold it."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self._db is not None:
            self._db.rollback()
            self._db.close()
            self._db = None


async def wait_refunds_started(st: Stack, workflow_ids: list[str], timeout: float = 180) -> None:
    """Until Temporal shows every run's issue_refund attempt as started (dispatched to a worker), each
    less than half the shop's busy timeout ago: blocked on the lock, with time left before it gives up.

    An attempt that waits out the busy timeout fails and is retried, so on a slow machine this waits for
    the retries to be blocked afresh rather than racing a clock.
    """

    async def started(workflow_id: str) -> bool:
        description = await st.handle(workflow_id).describe()
        return any(
            a.activity_type.name == "issue_refund"
            and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and time.time() - a.last_started_time.ToSeconds() < SHOP_BUSY_TIMEOUT / 2
            for a in description.raw_description.pending_activities
        )

    async def all_started() -> bool:
        return all(await asyncio.gather(*(started(w) for w in workflow_ids)))

    await eventually(
        all_started, timeout=timeout, what="every refund started and waiting on the lock", every=0.2
    )


@pytest.mark.slow
async def test_worker_killed_with_refunds_in_flight(stack: Stack) -> None:
    """SIGKILL while issue_refund activities are running, before and after their write commits.

    The shipped tool cannot be slowed, so the test makes the writes wait the way production would:
    it holds the shop database's write lock (BEGIN IMMEDIATE, as another writer would) while it
    approves the refunds, and every issue_refund activity starts and blocks inside its SQLite
    transaction. Two groups of runs, two kills:

    - *uncommitted*: with the lock still held, the worker is SIGKILLed; the lock is released after;
    - *committed, never reported*: on the next worker, once the refunds have started, the Temporal
      server is frozen (SIGSTOP: a network partition, as the worker sees it), the lock is released,
      the refunds commit but their completion cannot reach the server, the worker is SIGKILLed and
      the server thawed (SIGCONT).

    Both groups' attempts on the dead workers are retried only when their start-to-close timeout
    expires (the shop's tools declare one minute; they do not heartbeat), hence ``slow``. Then: every
    run completes, each order is refunded exactly once under its run's idempotency key, and the retry
    of a committed write returned the first receipt instead of writing again.
    """
    st = stack
    await st.start_worker()
    uncommitted = {await st.start_run(o): o for o in ELIGIBLE[:5]}
    committed = {await st.start_run(o): o for o in ELIGIBLE[5:10]}
    refunded = {**uncommitted, **committed}
    for workflow_id in refunded:
        await st.wait_pending(workflow_id, "issue_refund")

    # Group 1: killed while the writes wait for the lock.
    lock = WriteLock(st.shop)
    try:
        await approve_all(st, list(uncommitted), "r1", RAJ)
        await wait_refunds_started(st, list(uncommitted))
        st.workers[-1].kill()
    finally:
        lock.release()
    assert refunds_per_order(st) == {}

    # Group 2: the writes commit while the server cannot hear about it, then the worker dies.
    await st.start_worker()
    lock = WriteLock(st.shop)
    frozen = False
    try:
        await approve_all(st, list(committed), "r1", RAJ)
        await wait_refunds_started(st, list(committed))
        os.kill(st.server.proc.pid, signal.SIGSTOP)
        frozen = True
        lock.release()

        async def all_committed() -> dict[int, list[tuple[str, str]]] | None:
            rows = refunds_per_order(st)
            return rows if all(o in rows for o in committed.values()) else None

        await eventually(all_committed, timeout=120, what="the refunds to commit", every=0.1)
        st.workers[-1].kill()
    finally:
        lock.release()
        if frozen:
            os.kill(st.server.proc.pid, signal.SIGCONT)
    at_kill = refunds_per_order(st)
    write_keys = {w: await st.write_key(w, "r1") for w in refunded}
    assert {o: at_kill.get(o) for o in committed.values()} == {
        o: [("issued", write_keys[w])] for w, o in committed.items()
    }, at_kill
    # Group 1's attempts are retried once their one-minute timeout expires; on a slow machine a retry may
    # already have reached this worker. Whatever it wrote is under its own run's key.
    assert all(at_kill[o] == [("issued", write_keys[w])] for w, o in uncommitted.items() if o in at_kill), (
        at_kill
    )
    receipts_at_kill = {order: row_id for row_id, order in refund_ids(st)}

    await st.start_worker()
    spec = registry.get("issue_refund")
    assert spec is not None and spec.timeout is not None
    limit = spec.timeout.total_seconds() + 120
    for workflow_id in refunded:
        await st.wait_pending(workflow_id, "notify_customer", timeout=limit)
    await approve_all(st, list(refunded), "r2", QI)
    results = {w: await st.result(w) for w in refunded}
    assert {r.outcome for r in results.values()} == {"refunded"}, results
    await check_shop(st, refunded, list(refunded))

    for workflow_id, order_id in refunded.items():
        attempts = []
        async for event in st.handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attempts.append(event.activity_task_started_event_attributes.attempt)
        status = await st.status(workflow_id)
        step = next(s for s in status.steps if s.tool == "issue_refund")
        if workflow_id in uncommitted:  # killed before it could write or report: retried after the kill
            assert max(attempts) >= 2, (workflow_id, attempts)
        # A committed write's completion may already sit in the frozen server's socket when the worker dies;
        # the server reads it on SIGCONT (one attempt), or the retry returns the first receipt (checked below).
        if workflow_id in committed:
            assert step.result and step.result["refund_id"] == receipts_at_kill[order_id], step.result
    assert await replay_failures(st, list(refunded)) == []


def refund_ids(st: Stack) -> list[tuple[int, int]]:
    db = sqlite3.connect(f"file:{st.shop}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT id, order_id FROM refunds ORDER BY id").fetchall()
    finally:
        db.close()
