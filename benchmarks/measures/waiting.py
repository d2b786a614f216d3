"""Waiting at scale: K governed runs waiting for their approval at once, then all approved.

Started with ``mandate.api.start_agent`` (``mandate start``), counted through visibility until all K
show ``MandatePendingApprovals > 0``. Then: the governed worker process's RSS (its own process: the
client is elsewhere) and the dev server's; ``mandate.api.list_pending`` over them (``mandate
pending``: one visibility listing, one ``pending_approvals`` query per run); approving them all with
``mandate.api.decide``, ``plan.decide_concurrency`` at a time, and until every run has completed.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from temporalio.service import RPCError

from benchmarks.bench_agents import APPROVER, BENCH_AGENT
from benchmarks.harness import Stack, bounded, err, until
from benchmarks.probes import r, rss_mb
from benchmarks.sides import start_governed
from mandate import api
from mandate import search_attributes as sa
from mandate.decisions import DecisionKind
from mandate.errors import MandateError

__all__ = ["measure"]


async def measure(stack: Stack, k: int) -> dict[str, Any]:
    err.print(f"  waiting: {k} runs waiting for approval at once")
    worker, server = stack.pids["governed"], stack.pids["server"]
    rss0, srv0 = rss_mb(worker), rss_mb(server) if server else None
    t0 = time.perf_counter()
    handles = await bounded(50, range(k), lambda _: start_governed(stack))
    t_started = time.perf_counter()
    query = f"{sa.AGENT.name} = '{BENCH_AGENT}' AND {sa.PENDING_APPROVALS.name} > 0 AND ExecutionStatus = 'Running'"

    async def all_waiting() -> bool:
        return (await stack.client.count_workflows(query)).count >= k

    await until(all_waiting, every=0.25, timeout=60 + k * 0.2, what=f"{k} runs waiting")
    t_waiting = time.perf_counter()
    rss1, srv1 = rss_mb(worker), rss_mb(server) if server else None

    t = time.perf_counter()
    pending = await api.list_pending(stack.client, agent=BENCH_AGENT, task_queue=stack.tq)
    list_s = time.perf_counter() - t
    if len(pending) != k:
        stack.notes.append(f"waiting {k}: list_pending found {len(pending)} requests")

    retried: list[str] = []

    async def approve(item: Any) -> None:
        for attempt in range(3):
            try:
                await api.decide(stack.client, item.workflow_id, decision=DecisionKind.APPROVE, approver=APPROVER, task_queue=stack.tq,
                                 reason="benchmark", request_id=item.request.id, timeout=timedelta(seconds=120))
                return
            except (RPCError, MandateError) as exc:  # what an operator would see, and send again
                if attempt and "already approved" in str(exc):
                    return  # the earlier attempt was taken; its answer was lost
                if attempt == 2:
                    raise
                retried.append(f"{type(exc).__name__}: {exc}")

    t = time.perf_counter()
    await bounded(stack.plan.decide_concurrency, pending, approve)
    decide_s = time.perf_counter() - t
    if retried:
        stack.notes.append(f"waiting {k}: {len(retried)} approvals were sent again, first: {retried[0]}")
    results = await bounded(200, handles, lambda h: h.result())
    complete_s = time.perf_counter() - t
    bad = [x for x in results if x.outcome != "refunded"]
    if bad:
        stack.notes.append(f"waiting {k}: {len(bad)} approved runs did not end as refunded")
    stack.hints.clear()
    return {
        "runs": k,
        "start_s": r(t_started - t0),
        "all_waiting_s": r(t_waiting - t0),
        "worker_rss_mb_before": rss0,
        "worker_rss_mb": rss1,
        "worker_rss_mb_per_1000_waiting": r((rss1 - rss0) / k * 1000, 1) if rss0 and rss1 else None,
        "server_rss_mb_before": srv0,
        "server_rss_mb": srv1,
        "client_rss_mb": rss_mb(),
        "list_pending_s": r(list_s, 3),
        "list_pending_found": len(pending),
        "approve_all_s": r(decide_s),
        "approvals_per_s": r(len(pending) / decide_s, 1) if decide_s else None,
        "approve_all_until_complete_s": r(complete_s),
    }
