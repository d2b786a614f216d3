"""Kill with rollback: n runs, each holding one completed refund, stopped and rolled back by their owner.

Each run of ``BenchKillAgent`` (refund, then notify: two approvals) is started with
``mandate.api.start_agent``, its refund approved with ``mandate.api.decide``, and left waiting on the
second approval. Timed: from ``mandate.api.kill_agent(..., rollback=True)`` (``mandate kill
--rollback``: an update to the agent's monitor, which lists the agent's running runs through
visibility and signals each) until every run's result is in. Between sizes the stop/go owner resumes
the agent (``mandate resume``). The kill agent's monitor checks every 24 h and needs a billion
samples, so it acts only on this kill.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from typing import Any

from temporalio.client import WorkflowHandle

from benchmarks.bench_agents import APPROVER, KILL_AGENT, STOP_GO
from benchmarks.harness import Stack, bounded, err, until
from benchmarks.probes import r
from benchmarks.sides import pending_request, start_governed
from mandate import api
from mandate.decisions import DecisionKind
from mandate.run import RunState

__all__ = ["measure", "growth_exponent"]


async def measure(stack: Stack, n: int) -> dict[str, Any]:
    err.print(f"  kill: {n} runs, each with a completed refund and waiting on notify_customer")

    async def prepare(_: int) -> WorkflowHandle:
        handle = await start_governed(stack, KILL_AGENT)
        r1 = await until(lambda: pending_request(handle, "issue_refund"), every=0.1, timeout=300, what="refund request")
        await api.decide(stack.client, handle.id, decision=DecisionKind.APPROVE, approver=APPROVER, task_queue=stack.tq,
                         reason="benchmark", request_id=r1)
        await until(lambda: pending_request(handle, "notify_customer"), every=0.1, timeout=300, what="notify request")
        return handle

    handles = await bounded(50, range(n), prepare)
    t0 = time.perf_counter()
    decision = await api.kill_agent(stack.client, KILL_AGENT, by=STOP_GO, reason="benchmark kill", rollback=True,
                                    timeout=900, task_queue=stack.tq)
    signalled = time.perf_counter() - t0

    async def outcome(handle: WorkflowHandle) -> str:
        try:
            return (await handle.result()).state.value
        except Exception as exc:  # noqa: BLE001  (a failed rollback is a result to count)
            return type(exc).__name__

    states = Counter(await bounded(200, handles, outcome))
    total = time.perf_counter() - t0
    if states.get(RunState.ROLLED_BACK.value, 0) != n:
        stack.notes.append(f"kill of {n}: outcomes {dict(states)}")
    if len(decision.workflows) != n:
        stack.notes.append(f"kill of {n}: the monitor signalled {len(decision.workflows)} runs")
    # `mandate resume` (looked up when called: mandate.api is being split into modules)
    await api.resume_agent(stack.client, KILL_AGENT, by=STOP_GO, reason="benchmark: next size", task_queue=stack.tq)
    stack.hints.clear()
    return {
        "runs": n,
        "kill_seconds": r(total, 3),
        "signalled_s": r(signalled, 3),
        "rolled_back": states.get(RunState.ROLLED_BACK.value, 0),
        "ms_per_run": r(total / n * 1000, 2),
    }


def growth_exponent(seconds_by_runs: dict[str, float]) -> float | None:
    """Least-squares slope of log(time) against log(runs): 1 is linear."""
    points = [(math.log(int(n)), math.log(t)) for n, t in seconds_by_runs.items() if t > 0]
    if len(points) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    return r(sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points), 2)
