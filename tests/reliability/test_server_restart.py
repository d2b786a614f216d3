"""The dev server is stopped and restarted on its SQLite file while runs wait for approval.

The worker keeps running through both outages (the SDK reconnects); the runs keep their state, their
pending requests and their search attributes; the approvals sent after each restart complete them.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from temporalio.client import WorkflowExecutionStatus

from mandate import search_attributes as sa
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


async def restart(st: Stack, how: int) -> None:
    st.server.stop(how)
    await asyncio.sleep(1)
    restarted = time.time()
    await st.start_server()  # same port, same SQLite file
    worker = st.workers[-1]
    await eventually(
        lambda: st.pollers(since=restarted), timeout=90, what="the worker polling the restarted server"
    )
    assert worker.alive(), worker.output()


async def pending_ids(st: Stack, workflow_id: str) -> list[tuple[str, str]]:
    return [(r.id, r.tool) for r in (await st.status(workflow_id)).pending]


async def approve_with_the_cli(st: Stack, jobs: list[tuple[str, str, str]]) -> None:
    async def one(job: tuple[str, str, str]) -> None:
        workflow_id, request, approver = job
        r = await st.acli(
            "approve", workflow_id, "--request", request, "--as", approver, "--reason", "after restart"
        )
        assert r.ok, r

    await bounded(jobs, one, limit=4)


@pytest.mark.slow
async def test_runs_waiting_for_approval_survive_server_restarts(stack: Stack) -> None:
    st = stack
    await st.start_worker()
    refunded = {await st.start_run(o): o for o in ELIGIBLE[:6]}
    declined = [await st.start_run(o) for o in INELIGIBLE[:2]]
    runs = [*refunded, *declined]
    for workflow_id in refunded:
        await st.wait_pending(workflow_id, "issue_refund")
    for workflow_id in declined:
        await st.wait_pending(workflow_id, "notify_customer")
    before = {w: await pending_ids(st, w) for w in runs}

    # 1. A clean stop (SIGTERM) and a restart on the same file.
    await restart(st, signal.SIGTERM)
    assert {w: await pending_ids(st, w) for w in runs} == before
    listed = await st.acli("pending", "--json")
    assert listed.ok, listed
    assert {(i["workflow_id"], i["id"]) for i in listed.json()} == {(w, p[0][0]) for w, p in before.items()}
    await approve_with_the_cli(st, [(w, "r1", RAJ) for w in refunded])
    for workflow_id in refunded:
        await st.wait_pending(workflow_id, "notify_customer")

    # 2. An unclean stop (SIGKILL) while they wait again, and a restart on the same file.
    await restart(st, signal.SIGKILL)
    await approve_with_the_cli(st, [(w, "r2", QI) for w in refunded] + [(w, "r1", QI) for w in declined])

    results = {w: await st.result(w, timeout=90) for w in runs}
    assert {w: r.outcome for w, r in results.items()} == {
        **{w: "refunded" for w in refunded},
        **{w: "declined" for w in declined},
    }
    per_order = refunds_per_order(st)
    assert {o: per_order.get(o) for o in refunded.values()} == {
        o: [("issued", await st.write_key(w, "r1"))] for w, o in refunded.items()
    }
    assert len(st.notifications()) == len(runs)

    client = await st.client()
    for workflow_id in runs:
        assert (
            await client.get_workflow_handle(workflow_id).describe()
        ).status is WorkflowExecutionStatus.COMPLETED
    agent = f"{sa.AGENT.name} = 'refund-agent'"
    assert (await client.count_workflows(agent)).count == len(runs)
    assert (await client.count_workflows(f"{agent} AND ExecutionStatus = 'Completed'")).count == len(runs)
    assert await replay_failures(st, runs) == []
