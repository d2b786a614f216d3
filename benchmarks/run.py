#!/usr/bin/env python
"""Mandate benchmarks: governance overhead, approval latency, waiting at scale, kill, replay.

    python benchmarks/run.py [--quick] [--json] [--sqlite] [--memory] [--only SECTION ...] [--profile]

Starts the embedded dev server itself (``worker.start_dev_server``, random port, no UI; in memory,
or a temporary SQLite file with ``--sqlite``; a full run without ``--sqlite`` measures both) and the
workers in this process, then prints a table. ``--json`` adds one JSON object as the last line of
stdout. Progress goes to stderr. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before anything reads settings: a fresh shop database and nothing of the developer's state.
_HOME = Path(tempfile.mkdtemp(prefix="mandate-bench-"))
os.environ["MANDATE_HOME"] = str(_HOME)
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Awaitable, Callable, Iterable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import temporalio  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from temporalio import activity  # noqa: E402
from temporalio import client as tclient  # noqa: E402
from temporalio import worker as tworker  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.worker import Replayer, Worker  # noqa: E402

import mandate.activities.shop  # noqa: E402,F401  (registers the shop's tools)
from benchmarks.ablations import (  # noqa: E402
    MANDATE_KEY,
    VARIANTS,
    mandate_for,
    variant_charters,
    variant_class,
    variant_workflows,
)
from benchmarks.bench_agents import (  # noqa: E402
    APPROVER,
    BENCH_AGENT,
    KILL_AGENT,
    REQUESTED_BY,
    STOP_GO,
    BenchAgent,
    bench_charters,
    bench_workflows,
)
from benchmarks.raw_shared import RAW_ACTIVITIES, RAW_WRITE_ACTIVITY, RawInput  # noqa: E402
from benchmarks.raw_workflow import RawRefund  # noqa: E402
from mandate import api  # noqa: E402
from mandate import search_attributes as sa  # noqa: E402
from mandate.activities.shop import RefundReceipt  # noqa: E402
from mandate.decisions import DecisionKind  # noqa: E402
from mandate.errors import MandateError  # noqa: E402
from mandate.logging import configure_logging  # noqa: E402
from mandate.run import AgentResult, AgentRunInput, RunState  # noqa: E402
from mandate.worker import build_worker, start_dev_server, start_monitors, temporal_cli_path  # noqa: E402

T = TypeVar("T")
SECTIONS = ("overhead", "waiting", "kill", "replay")
GOVERNED_WRITE_ACTIVITY = "issue_refund"
FIRST_ORDER = 100_001  # the benchmark's own orders, seeded beside the demo's 1001..1050
ORDERS = 60_000  # enough for every run of a full run on both back-ends: the shop refunds an order once
TARGETS = {
    "overhead_ratio_max": 1.15,
    "approval_latency_within_of_raw": 0.10,
    "waiting_runs": 5000,
    "waiting_rss_mb_max": 1024,
    "kill_growth_exponent_max": 1.0,
    "replay_events_per_s_min": 5000,
}

err = Console(stderr=True, highlight=False)


# ------------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class Plan:
    mode: str
    overhead_runs: int  # per side
    batch: int  # runs per alternating batch
    concurrency: int  # runs in flight at once, both sides
    warmup: int  # runs per side before measuring
    latency_runs: int  # runs per side one at a time, raw and governed alternating (unloaded latency)
    waiting: tuple[int, ...]
    kill: tuple[int, ...]
    replay_events: int
    poll_s: float = 0.01  # how often the approver's client queries for the request, once it is near
    prep_poll_s: float = 0.1  # the same, while preparing the scale and kill runs
    decide_concurrency: int = 20
    profile: bool = False  # also measure the ablation variants of benchmarks/ablations.py
    sections: tuple[str, ...] = SECTIONS


QUICK = Plan("quick", overhead_runs=160, batch=20, concurrency=10, warmup=10, latency_runs=10, waiting=(200,), kill=(20, 50),
             replay_events=2000)
FULL = Plan("full", overhead_runs=200, batch=20, concurrency=10, warmup=20, latency_runs=40, waiting=(1000, 5000),
            kill=(100, 500, 1000), replay_events=10000)


# ------------------------------------------------------------------------------------ measuring aids


class WriteStarts(tclient.Interceptor, tworker.Interceptor):
    """Records, inside the worker, the moment each watched activity starts executing (wall clock).

    A client interceptor that is also a worker interceptor is installed on every worker built
    from that client, so ``build_worker`` (which takes no interceptors) gets it too.
    """

    def __init__(self, watched: Iterable[str], hints: Iterable[str] = ()) -> None:
        self.watched = frozenset(watched)
        self.hints = frozenset(hints)
        self.starts: dict[tuple[str, str], float] = {}
        self._done: dict[tuple[str, str], asyncio.Event] = {}

    def done(self, workflow_id: str, activity_type: str) -> asyncio.Event:
        """Set when ``activity_type`` of ``workflow_id`` has finished executing in this worker."""
        return self._done.setdefault((workflow_id, activity_type), asyncio.Event())

    def reset(self) -> None:
        self.starts.clear()
        self._done.clear()

    def forget(self, workflow_id: str) -> None:
        for key in [k for k in self._done if k[0] == workflow_id]:
            del self._done[key]

    def intercept_activity(self, next: tworker.ActivityInboundInterceptor) -> tworker.ActivityInboundInterceptor:
        return _RecordStart(next, self)


class _RecordStart(tworker.ActivityInboundInterceptor):
    def __init__(self, next: tworker.ActivityInboundInterceptor, owner: WriteStarts) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: tworker.ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type in self._owner.watched:
            self._owner.starts.setdefault((info.workflow_id or "", info.activity_type), time.time())
        try:
            return await super().execute_activity(input)
        finally:
            if info.activity_type in self._owner.hints:
                self._owner.done(info.workflow_id or "", info.activity_type).set()


def _status_kb(path: str, key: str = "VmRSS") -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int | None = None) -> float | None:
    kb = _status_kb(f"/proc/{pid or 'self'}/status")
    return round(kb / 1024, 1) if kb is not None else None


def children() -> set[int]:
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry.name))
    return found


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of this process, or of ``pid`` (the dev server)."""
    if pid is None:
        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def bounded(limit: int, items: Iterable[T], fn: Callable[[T], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with gate:
            return await fn(item)

    return await asyncio.gather(*(one(i) for i in items))


async def until(probe: Callable[[], Awaitable[Any]], *, every: float, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


_orders = itertools.count(FIRST_ORDER)


def seed_orders() -> None:
    """A fresh, refundable order for every run (in this benchmark's own ``MANDATE_HOME``)."""
    from mandate.activities.shop_db import connect

    with connect() as db:
        db.executemany(
            "INSERT OR IGNORE INTO orders (id, customer_id, item, amount_cents, status, days_since_delivery)"
            " VALUES (?, 501, 'kettle', 2500, 'delivered', 3)",
            [(order_id,) for order_id in range(FIRST_ORDER, FIRST_ORDER + ORDERS)],
        )


def next_order() -> int:
    order_id = next(_orders)
    if order_id >= FIRST_ORDER + ORDERS:
        raise RuntimeError(f"the benchmark used all {ORDERS} of its orders; raise ORDERS")
    return order_id


def approval(request_id: str | None = None) -> dict[str, str]:
    payload = {"approver": APPROVER, "reason": "benchmark"}
    if request_id:
        payload["request_id"] = request_id
    return payload


# ------------------------------------------------------------------------------------ the harness


@dataclass
class Bench:
    plan: Plan
    client: Client
    tq: str
    raw_tq: str
    starts: WriteStarts
    server_pid: int | None
    charters: dict[str, Any] = field(default_factory=bench_charters)
    notes: list[str] = field(default_factory=list)
    variants: dict[str, str] = field(default_factory=dict)  # side -> agent (``--profile``)
    input_mandates: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent -> mandate JSON

    def __post_init__(self) -> None:
        if self.plan.profile:
            self.charters.update(variant_charters())
            for side, (_, _, in_input) in VARIANTS.items():
                agent = variant_class(side).agent
                self.variants[side] = agent
                if in_input:
                    self.input_mandates[agent] = mandate_for(agent, self.charters)

    # ---------------------------------------------------------------- starting and waiting

    async def start_governed(self, agent: str = BENCH_AGENT, *, via_api: bool = False) -> WorkflowHandle:
        run_input: dict[str, Any] = {"order_id": next_order(), "reason": "benchmark"}
        if agent in self.input_mandates:
            run_input[MANDATE_KEY] = self.input_mandates[agent]
        if via_api:  # the product's path: also asks the agent's monitor whether starts are paused
            wid = await api.start_agent(
                self.client, self.charters, agent, input=run_input, requested_by=REQUESTED_BY, task_queue=self.tq
            )
            return self.client.get_workflow_handle(wid, result_type=AgentResult)
        charter = self.charters[agent]
        return await self.client.start_workflow(
            charter.workflow,
            AgentRunInput(input=run_input, requested_by=REQUESTED_BY),
            id=f"{agent}-{uuid.uuid4().hex[:12]}",
            task_queue=self.tq,
            result_type=AgentResult,
            search_attributes=api.start_search_attributes(agent, charter, REQUESTED_BY),  # as `mandate start`
        )

    async def start_raw(self) -> WorkflowHandle:
        return await self.client.start_workflow(
            RawRefund.run,
            RawInput(order_id=next_order(), reason="benchmark"),
            id=f"raw-{uuid.uuid4().hex[:12]}",
            task_queue=self.raw_tq,
            result_type=RefundReceipt,
        )

    @staticmethod
    async def pending_request(handle: WorkflowHandle, tool: str | None = None) -> str | None:
        """The id of the run's pending request (for ``tool``), as the pending_approvals query shows it."""
        try:
            pending = await handle.query("pending_approvals", result_type=list)
        except (WorkflowQueryFailedError, RPCError):
            return None  # not yet past its first workflow task
        for request in pending:
            if tool is None or request["tool"] == tool:
                return request["id"]
        return None

    @staticmethod
    async def raw_pending(handle: WorkflowHandle) -> bool:
        try:
            return await handle.query("pending", result_type=bool)
        except (WorkflowQueryFailedError, RPCError):
            return False

    # ---------------------------------------------------------------- overhead and latency

    async def one_run(self, side: str) -> dict[str, Any]:
        """Start, wait for the approval request, approve it at once, wait for the result.

        The approver's client learns that the request is near from the worker (the last read
        activity has finished), then polls the run's query every ``poll_s`` until the request is
        visible: querying from the start would spend the two cores on queries, more of them on the
        slower side.
        """
        poll = self.plan.poll_s
        queries = 0
        t0 = time.perf_counter()
        if side == "raw":
            handle = await self.start_raw()
            last_read, write = "raw_check_refund_policy", RAW_WRITE_ACTIVITY
        else:
            handle = await self.start_governed(self.variants.get(side, BENCH_AGENT))
            last_read, write = "check_refund_policy", GOVERNED_WRITE_ACTIVITY
        await asyncio.wait_for(self.starts.done(handle.id, last_read).wait(), timeout=120)

        async def visible() -> Any:
            nonlocal queries
            queries += 1
            if side == "raw":
                return "r1" if await self.raw_pending(handle) else None
            return await self.pending_request(handle)

        request_id = await until(visible, every=poll, timeout=120, what="the approval request")
        t_visible = time.perf_counter()
        sent = time.time()
        await handle.signal("approve", approval(request_id))
        result = await handle.result()
        t_end = time.perf_counter()
        if side != "raw" and result.outcome != "refunded":
            raise RuntimeError(f"governed run {handle.id} ended as {result.outcome}: {result.summary}")
        started = self.starts.starts.pop((handle.id, write))
        self.starts.forget(handle.id)
        return {
            "id": handle.id,
            "total_s": t_end - t0,
            "to_request_s": t_visible - t0,
            "approval_latency_s": started - sent,
            "after_approval_s": t_end - t_visible,
            "queries": queries,
        }

    async def batch(self, side: str, n: int) -> tuple[float, float, float, list[dict[str, float]]]:
        cpu0, srv0, t0 = cpu_s(None), cpu_s(self.server_pid), time.perf_counter()
        samples = await bounded(self.plan.concurrency, range(n), lambda _: self.one_run(side))
        return time.perf_counter() - t0, cpu_s(None) - cpu0, cpu_s(self.server_pid) - srv0, samples

    async def overhead(self) -> dict[str, Any]:
        p = self.plan
        sides = ["raw", "governed", *(self.variants if p.profile else [])]
        err.print(f"  overhead: {p.warmup} warm-up + {p.overhead_runs} runs per side ({', '.join(sides)}), "
                  f"{p.concurrency} at a time")
        for side in sides:
            await self.batch(side, p.warmup)
        rounds = max(1, p.overhead_runs // p.batch)
        wall = dict.fromkeys(sides, 0.0)
        cpu = dict.fromkeys(sides, 0.0)
        server_cpu = dict.fromkeys(sides, 0.0)
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
        per_batch: dict[str, list[float]] = {s: [] for s in sides}
        for i in range(rounds):
            # rotate the order every round (with two sides: raw, governed, governed, raw, ...) so that
            # drift on a shared machine hits every side alike
            k = i % len(sides)
            for side in sides[k:] + sides[:k]:
                elapsed, c, sc, samples = await self.batch(side, p.batch)
                wall[side] += elapsed
                cpu[side] += c
                server_cpu[side] += sc
                runs[side].extend(samples)
                per_batch[side].append(elapsed / p.batch)
        n = rounds * p.batch
        out: dict[str, Any] = {
            "runs_per_side": n,
            "concurrency": p.concurrency,
            "raw_wf_per_s": r(n / wall["raw"], 1),
            "governed_wf_per_s": r(n / wall["governed"], 1),
            "overhead_ratio": r(wall["governed"] / wall["raw"], 3),
            # CPU (this process + dev server) per governed run / per raw run: steadier than wall time on a
            # shared machine, and what the wall-time ratio tends to when the cores are saturated
            "cpu_ratio": r((cpu["governed"] + server_cpu["governed"]) / (cpu["raw"] + server_cpu["raw"]), 3),
            # the same ratio round by round (each governed batch against the raw batch next to it)
            "overhead_ratio_batches": [r(g / w, 3) for g, w in zip(per_batch["governed"], per_batch["raw"], strict=True)],
        }
        for side, prefix in (("governed", ""), ("raw", "raw_")):
            lat = [s["approval_latency_s"] * 1000 for s in runs[side]]
            out[f"{prefix}approval_latency_ms_p50"] = r(pct(lat, 0.5), 1)
            out[f"{prefix}approval_latency_ms_p95"] = r(pct(lat, 0.95), 1)
        for side in sides:
            s = runs[side]
            out[side] = {
                "wf_per_s": r(n / wall[side], 1),
                "ratio_to_raw": r(wall[side] / wall["raw"], 3),
                "run_ms_p50": r(pct([x["total_s"] * 1000 for x in s], 0.5), 1),
                "run_ms_p95": r(pct([x["total_s"] * 1000 for x in s], 0.95), 1),
                "start_to_request_ms_p50": r(pct([x["to_request_s"] * 1000 for x in s], 0.5), 1),
                "approval_latency_ms_p50": r(pct([x["approval_latency_s"] * 1000 for x in s], 0.5), 1),
                "approval_to_result_ms_p50": r(pct([x["after_approval_s"] * 1000 for x in s], 0.5), 1),
                "queries_per_run": r(statistics.mean(x["queries"] for x in s), 2),
                "worker_process_cpu_ms_per_run": r(cpu[side] / n * 1000, 2),
                "server_cpu_ms_per_run": r(server_cpu[side] / n * 1000, 2) if self.server_pid else None,
                "history": await self.history_profile([x["id"] for x in s[-10:]]),
            }
        out["profile"] = {side: out[side]["history"] for side in sides}
        # the same runs one at a time: the approval path without queueing behind other runs
        alone: dict[str, list[float]] = {"raw": [], "governed": []}
        for _ in range(p.latency_runs):
            for side in ("raw", "governed"):
                alone[side].append((await self.one_run(side))["approval_latency_s"] * 1000)
        for side, prefix in (("governed", ""), ("raw", "raw_")):
            out[f"{prefix}approval_latency_ms_p50_alone"] = r(pct(alone[side], 0.5), 1)
            out[f"{prefix}approval_latency_ms_p95_alone"] = r(pct(alone[side], 0.95), 1)
        return out

    async def history_profile(self, workflow_ids: list[str]) -> dict[str, Any]:
        """What a run costs in history (mean over ``workflow_ids``): events, workflow tasks, and so on."""
        kinds: Counter[str] = Counter()
        for workflow_id in workflow_ids:
            history = await self.client.get_workflow_handle(workflow_id).fetch_history()
            kinds.update(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)
        n = len(workflow_ids)
        return {
            "runs": n,
            "events": r(sum(kinds.values()) / n, 1),
            "workflow_tasks": r(kinds["WORKFLOW_TASK_COMPLETED"] / n, 1),
            "activities": r(kinds["ACTIVITY_TASK_SCHEDULED"] / n, 1),
            "local_activity_markers": r(kinds["MARKER_RECORDED"] / n, 1),
            "search_attribute_upserts": r(kinds["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"] / n, 1),
            "timers": r(kinds["TIMER_STARTED"] / n, 1),
            "by_type": {k: r(v / n, 1) for k, v in sorted(kinds.items())},
        }

    # ---------------------------------------------------------------- waiting at scale

    async def waiting(self, k: int) -> dict[str, Any]:
        err.print(f"  waiting: {k} runs waiting for approval at once")
        rss0, srv0 = rss_mb(), rss_mb(self.server_pid) if self.server_pid else None
        t0 = time.perf_counter()
        handles = await bounded(50, range(k), lambda _: self.start_governed(via_api=True))
        t_started = time.perf_counter()
        query = (
            f"{sa.AGENT.name} = '{BENCH_AGENT}' AND {sa.PENDING_APPROVALS.name} > 0 AND ExecutionStatus = 'Running'"
        )

        async def all_waiting() -> bool:
            return (await self.client.count_workflows(query)).count >= k

        await until(all_waiting, every=0.25, timeout=60 + k * 0.2, what=f"{k} runs waiting")
        t_waiting = time.perf_counter()
        rss1, srv1 = rss_mb(), rss_mb(self.server_pid) if self.server_pid else None

        t = time.perf_counter()
        pending = await api.list_pending(self.client, agent=BENCH_AGENT)
        list_s = time.perf_counter() - t
        if len(pending) != k:
            self.notes.append(f"list_pending found {len(pending)} requests over {k} waiting runs")

        retried: list[str] = []

        async def approve(item: api.PendingApproval) -> None:
            for attempt in range(3):
                try:
                    await api.decide(
                        self.client,
                        item.workflow_id,
                        decision=DecisionKind.APPROVE,
                        approver=APPROVER,
                        reason="benchmark",
                        request_id=item.request.id,
                        task_queue=self.tq,
                        timeout=timedelta(seconds=120),
                    )
                    return
                except (RPCError, MandateError) as exc:  # what an operator would see, and send again
                    if attempt and "already approved" in str(exc):
                        return  # the earlier attempt was taken; its answer was lost
                    if attempt == 2:
                        raise
                    retried.append(f"{type(exc).__name__}: {exc}")

        t = time.perf_counter()
        await bounded(self.plan.decide_concurrency, pending, approve)
        decide_s = time.perf_counter() - t
        if retried:
            self.notes.append(f"{len(retried)} of {k} approvals were sent again, first: {retried[0]}")
        results = await bounded(200, handles, lambda h: h.result())
        complete_s = time.perf_counter() - t
        bad = [x for x in results if x.outcome != "refunded"]
        if bad:
            self.notes.append(f"{len(bad)} of {k} approved runs did not end as refunded")
        return {
            "runs": k,
            "start_s": r(t_started - t0),
            "all_waiting_s": r(t_waiting - t0),
            "process_rss_mb_before": rss0,
            "process_rss_mb": rss1,
            "process_rss_mb_per_1000_waiting": r((rss1 - rss0) / k * 1000, 1) if rss0 and rss1 else None,
            "server_rss_mb": srv1,
            "server_rss_mb_before": srv0,
            "list_pending_s": r(list_s, 3),
            "list_pending_found": len(pending),
            "approve_all_s": r(decide_s),
            "approvals_per_s": r(len(pending) / decide_s, 1) if decide_s else None,
            "approve_all_until_complete_s": r(complete_s),
        }

    # ---------------------------------------------------------------- kill

    async def kill(self, n: int) -> dict[str, Any]:
        err.print(f"  kill: {n} runs, each with a completed refund and waiting on notify_customer")
        every = self.plan.prep_poll_s

        async def prepare(_: int) -> WorkflowHandle:
            handle = await self.start_governed(KILL_AGENT, via_api=True)
            r1 = await until(lambda: self.pending_request(handle, "issue_refund"), every=every, timeout=300,
                             what="refund request")
            await handle.signal("approve", approval(r1))
            await until(lambda: self.pending_request(handle, "notify_customer"), every=every, timeout=300,
                        what="notify request")
            return handle

        handles = await bounded(50, range(n), prepare)
        t0 = time.perf_counter()
        decision = await api.kill_agent(
            self.client, KILL_AGENT, by=STOP_GO, reason="benchmark kill", rollback=True, timeout=900
        )
        signalled = time.perf_counter() - t0

        async def outcome(handle: WorkflowHandle) -> str:
            try:
                return (await handle.result()).state.value
            except Exception as exc:  # noqa: BLE001  (a failed rollback is a result to count)
                return type(exc).__name__

        states = Counter(await bounded(200, handles, outcome))
        total = time.perf_counter() - t0
        if states.get(RunState.ROLLED_BACK.value, 0) != n:
            self.notes.append(f"kill of {n}: outcomes {dict(states)}")
        if len(decision.workflows) != n:
            self.notes.append(f"kill of {n}: the monitor signalled {len(decision.workflows)} runs")
        await api.resume_agent(self.client, KILL_AGENT, by=STOP_GO, reason="benchmark: next round")
        return {
            "runs": n,
            "kill_seconds": r(total, 3),
            "signalled_s": r(signalled, 3),
            "rolled_back": states.get(RunState.ROLLED_BACK.value, 0),
            "ms_per_run": r(total / n * 1000, 2),
        }

    # ---------------------------------------------------------------- replay

    async def replay(self) -> dict[str, Any]:
        target = self.plan.replay_events
        err.print(f"  replay: one governed run with ~{target} events (malformed approve signals)")
        handle = await self.start_governed()
        r1 = await until(lambda: self.pending_request(handle), every=0.05, timeout=120, what="request")
        signals = 0
        while True:
            info = (await handle.describe()).raw_description.workflow_execution_info
            missing = target - 12 - info.history_length  # the approval and the end add about a dozen events
            if missing <= 0:
                break
            burst = max(20, min(1000, missing // 2))  # a signal adds one event, plus its share of a workflow task
            await bounded(25, range(burst), lambda _: handle.signal("approve", "not a decision"))
            signals += burst
        await handle.signal("approve", approval(r1))
        result = await handle.result()
        history = await handle.fetch_history()
        events = len(history.events)
        # What `mandate replay` uses (mandate.review: no sandbox, the instance kept for the report),
        # then the SDK's default Replayer with the sandbox, as a plain Temporal user would replay.
        from mandate.review.replay import replayer as review_replayer

        async def timed(replayer: Replayer) -> list[float]:
            times = []
            for _ in range(4):
                t = time.perf_counter()
                replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
                times.append(time.perf_counter() - t)
                if replayed.replay_failure is not None:
                    raise RuntimeError(f"the benchmark history did not replay: {replayed.replay_failure}")
            return times

        times = await timed(review_replayer([BenchAgent]))
        sandboxed = await timed(Replayer(workflows=[BenchAgent], data_converter=pydantic_data_converter))
        warm = statistics.median(times[1:])
        warm_sandboxed = statistics.median(sandboxed[1:])
        out: dict[str, Any] = {
            "events": events,
            "malformed_signals": signals,
            "refused_recorded": result.refused_decisions,
            "replay_s_cold": r(times[0], 3),
            "replay_s": r(warm, 3),
            "replay_events_per_s": r(events / warm, 0),
            "replay_events_per_s_cold": r(events / times[0], 0),
            "replay_events_per_s_sandboxed": r(events / warm_sandboxed, 0),
        }
        out.update(await self.incident_report(history))
        return out

    async def incident_report(self, history: Any) -> dict[str, Any]:
        try:
            from mandate.review import build_report, render_markdown, replay_history
        except ImportError as exc:
            note = f"incident report not timed: mandate.review is not available ({exc})"
            self.notes.append(note)
            return {"incident_report_s": None, "incident_report_note": note}
        try:
            path = _HOME / "incident.md"
            t = time.perf_counter()
            outcome = await replay_history(history, workflows=[BenchAgent])
            text = render_markdown(build_report(history, outcome))
            path.write_text(text, encoding="utf-8")
            elapsed = time.perf_counter() - t
        except Exception as exc:  # noqa: BLE001  (the module is young; report, do not fail the run)
            note = f"incident report failed: {type(exc).__name__}: {exc}"
            self.notes.append(note)
            return {"incident_report_s": None, "incident_report_note": note}
        return {"incident_report_s": r(elapsed, 3), "incident_report_bytes": len(text.encode())}


# ------------------------------------------------------------------------------------ one back-end


async def run_backend(plan: Plan, backend: str) -> dict[str, Any]:
    err.print(f"[bold]{backend}[/bold]: starting the dev server and the workers")
    db = _HOME / f"temporal-{uuid.uuid4().hex[:6]}.db" if backend == "sqlite" else None
    before = children()
    env = await start_dev_server(db=db, port=None, ui=False)
    spawned = sorted(children() - before)
    server_pid = spawned[0] if spawned else None
    starts = WriteStarts({GOVERNED_WRITE_ACTIVITY, RAW_WRITE_ACTIVITY}, {"check_refund_policy", "raw_check_refund_policy"})
    client = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[starts],
    )
    suffix = uuid.uuid4().hex[:8]
    bench = Bench(plan, client, f"bench-{suffix}", f"bench-raw-{suffix}", starts, server_pid)
    out: dict[str, Any] = {"backend": backend}
    t_all = time.perf_counter()
    try:
        workflows = {**bench_workflows(), **(variant_workflows() if plan.profile else {})}
        served = {name: c for name, c in bench.charters.items() if c.workflow in workflows}
        # The benchmark's agents are served the way build_worker serves the product's own (workflows/ is
        # passed through the sandbox); the plain workflow keeps the SDK's default sandbox.
        governed = build_worker(
            client, task_queue=bench.tq, charters=served, workflows=workflows, passthrough_modules=["benchmarks"]
        )
        raw = Worker(
            client,
            task_queue=bench.raw_tq,
            workflows=[RawRefund],
            activities=RAW_ACTIVITIES,
            max_concurrent_activities=100,  # as build_worker
        )
        async with governed, raw:
            await start_monitors(client, {KILL_AGENT: bench.charters[KILL_AGENT]}, task_queue=bench.tq)
            if "overhead" in plan.sections:
                out["overhead"] = await bench.overhead()
            if "waiting" in plan.sections:
                out["waiting"] = {}
                for k in plan.waiting:
                    out["waiting"][str(k)] = await bench.waiting(k)
                    starts.reset()
            if "kill" in plan.sections:
                out["kill"] = {}
                for n in plan.kill:
                    out["kill"][str(n)] = await bench.kill(n)
                    starts.reset()
            if "replay" in plan.sections:
                out["replay"] = await bench.replay()
            out["process_rss_mb_end"] = rss_mb()
            out["process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    finally:
        await env.shutdown()
        if db is not None:
            for f in db.parent.glob(db.name + "*"):
                f.unlink(missing_ok=True)
    out["elapsed_s"] = r(time.perf_counter() - t_all, 1)
    out["notes"] = bench.notes
    out.update(headline(out))
    return out


def headline(b: dict[str, Any]) -> dict[str, Any]:
    """The flat figures the README quotes (those of the sections that ran)."""
    out: dict[str, Any] = {}
    if o := b.get("overhead"):
        for key in (
            "raw_wf_per_s",
            "governed_wf_per_s",
            "overhead_ratio",
            "approval_latency_ms_p50",
            "approval_latency_ms_p95",
            "raw_approval_latency_ms_p50",
            "raw_approval_latency_ms_p95",
        ):
            out[key] = o[key]
    if waiting := b.get("waiting"):
        biggest = waiting[str(max(int(k) for k in waiting))]
        out.update(
            waiting_runs=biggest["runs"],
            waiting_process_rss_mb=biggest["process_rss_mb"],
            waiting_server_rss_mb=biggest["server_rss_mb"],
            list_pending_s=biggest["list_pending_s"],
            approve_all_s=biggest["approve_all_s"],
        )
    if "kill" in b:
        kill = {n: v["kill_seconds"] for n, v in b["kill"].items()}
        points = [(math.log(int(n)), math.log(t)) for n, t in kill.items() if t > 0]
        exponent = None
        if len(points) >= 2:  # least-squares slope of log(time) against log(runs)
            mx = statistics.mean(x for x, _ in points)
            my = statistics.mean(y for _, y in points)
            exponent = r(
                sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points), 2
            )
        out.update(kill_seconds_by_runs=kill, kill_growth_exponent=exponent)
    if rep := b.get("replay"):
        out.update(replay_events_per_s=rep["replay_events_per_s"], incident_report_s=rep.get("incident_report_s"))
    return out


# ------------------------------------------------------------------------------------ machine and output


def machine() -> dict[str, Any]:
    mem_kb = _status_kb("/proc/meminfo", "MemTotal")
    try:
        cli = subprocess.run([temporal_cli_path(), "--version"], capture_output=True, text=True, timeout=20)
        cli_version = cli.stdout.strip() or cli.stderr.strip()
    except Exception as exc:  # noqa: BLE001
        cli_version = f"unknown ({exc})"
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": temporalio.__version__,
        "temporal_cli": cli_version,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _yes(ok: bool | None) -> str:
    return "–" if ok is None else ("[green]yes[/green]" if ok else "[red]no[/red]")


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return f"{value}{unit}"


def render(report: dict[str, Any], console: Console) -> None:
    m = report["machine"]
    console.print(
        f"[bold]Mandate benchmarks[/bold] ({report['mode']}) — {m['cores']} cores, {m['ram_gib']} GiB RAM, "
        f"Python {m['python']}, temporalio {m['temporalio']}, {m['temporal_cli']}; "
        f"load average at start {m['loadavg_at_start']}, at end {m.get('loadavg_at_end')}"
    )
    backends = report["backends"]
    names = list(backends)
    table = Table(show_lines=False)
    table.add_column("measure")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("target")
    for name in names:
        table.add_column(f"met ({name})" if len(names) > 1 else "met", justify="center")

    def row(label: str, get: Callable[[dict], Any], unit: str = "", target: str = "",
            check: Callable[[dict], bool | None] | None = None) -> None:
        values, verdicts = [], []
        for name in names:
            try:
                values.append(_fmt(get(backends[name]), unit))
            except (KeyError, TypeError, ZeroDivisionError):
                values.append("–")
            try:
                verdicts.append(_yes(check(backends[name]) if check else None))
            except (KeyError, TypeError, ZeroDivisionError):
                verdicts.append("–")
        table.add_row(label, *values, target, *verdicts)

    def section(title: str) -> None:
        table.add_row(f"[bold]{title}[/bold]", *[""] * (2 * len(names) + 1))

    def pair(key: str, fmt: str = "{:.0f}", a: str = "raw", b_: str = "governed") -> Callable[[dict], str]:
        return lambda b: f"{fmt.format(b['overhead'][a][key])} / {fmt.format(b['overhead'][b_][key])}"

    def present(key: str) -> bool:
        return any(key in b for b in backends.values())

    lim = TARGETS
    within = lim["approval_latency_within_of_raw"]
    if present("overhead"):
        section("overhead (demo-shaped run: 2 reads + 1 approved write)")
        row("raw workflows / s", lambda b: b["raw_wf_per_s"])
        row("governed workflows / s", lambda b: b["governed_wf_per_s"])
        row("overhead ratio (governed time / raw time)", lambda b: b["overhead_ratio"], "",
            f"<= {lim['overhead_ratio_max']}", lambda b: b["overhead_ratio"] <= lim["overhead_ratio_max"])
        row("  CPU ratio (CPU per governed run / per raw run, this process + server)",
            lambda b: b["overhead"]["cpu_ratio"])
        row("  ratio, round by round", lambda b: ", ".join(f"{x:.2f}" for x in b["overhead"]["overhead_ratio_batches"]))
        row("  run p50, raw / governed (ms)", pair("run_ms_p50"))
        row("  start → request visible p50, raw / governed (ms)", pair("start_to_request_ms_p50"))
        row("  CPU of this process per run, raw / governed (ms)", pair("worker_process_cpu_ms_per_run", "{:.1f}"))
        row("  CPU of the dev server per run, raw / governed (ms)", pair("server_cpu_ms_per_run", "{:.1f}"))
        row("  history events per run, raw / governed",
            lambda b: f"{b['overhead']['profile']['raw']['events']:g} / "
                      f"{b['overhead']['profile']['governed']['events']:g}")
        row("  workflow tasks per run, raw / governed",
            lambda b: f"{b['overhead']['profile']['raw']['workflow_tasks']:g} / "
                      f"{b['overhead']['profile']['governed']['workflow_tasks']:g}")
        variants = [v for v in VARIANTS if any(v in b.get("overhead", {}) for b in backends.values())]
        if variants:
            section("profile: governed variants with one cost removed (benchmarks/ablations.py)")
            for v in variants:
                row(f"{v}: time ratio to raw", lambda b, v=v: b["overhead"][v]["ratio_to_raw"])
                row(f"{v}: events / tasks / CPU here / CPU server",
                    lambda b, v=v: (f"{b['overhead'][v]['history']['events']:g} / "
                                    f"{b['overhead'][v]['history']['workflow_tasks']:g} / "
                                    f"{b['overhead'][v]['worker_process_cpu_ms_per_run']:.1f} / "
                                    f"{b['overhead'][v]['server_cpu_ms_per_run']:.1f}"))
        section(f"approval latency (approve signal sent → write activity starts; {report['concurrency']} runs in flight)")
        row("governed p50", lambda b: b["approval_latency_ms_p50"], " ms", f"within {within:.0%} of raw",
            lambda b: b["approval_latency_ms_p50"] <= b["raw_approval_latency_ms_p50"] * (1 + within))
        row("governed p95", lambda b: b["approval_latency_ms_p95"], " ms", f"within {within:.0%} of raw",
            lambda b: b["approval_latency_ms_p95"] <= b["raw_approval_latency_ms_p95"] * (1 + within))
        row("raw p50", lambda b: b["raw_approval_latency_ms_p50"], " ms")
        row("raw p95", lambda b: b["raw_approval_latency_ms_p95"], " ms")
        row("one run at a time: governed p50 / raw p50",
            lambda b: f"{b['overhead']['approval_latency_ms_p50_alone']:.1f} / "
                      f"{b['overhead']['raw_approval_latency_ms_p50_alone']:.1f} ms")
        row("one run at a time: governed p95 / raw p95",
            lambda b: f"{b['overhead']['approval_latency_ms_p95_alone']:.1f} / "
                      f"{b['overhead']['raw_approval_latency_ms_p95_alone']:.1f} ms")
    if present("waiting"):
        section("waiting for approval at scale (the worker runs in this process: its RSS is the whole process)")
        for k in sorted({int(k) for b in backends.values() for k in b.get("waiting", {})}):
            w = lambda b, k=k: b["waiting"][str(k)]  # noqa: E731
            is_target = k >= lim["waiting_runs"]
            row(f"{k} waiting: process RSS", lambda b, w=w: w(b)["process_rss_mb"], " MB",
                f"< {lim['waiting_rss_mb_max']} MB at {lim['waiting_runs']:,}" if is_target
                else f"(target is for {lim['waiting_runs']:,})",
                (lambda b, w=w: w(b)["process_rss_mb"] < lim["waiting_rss_mb_max"]) if is_target else None)
            row("  process RSS before starting them", lambda b, w=w: w(b)["process_rss_mb_before"], " MB")
            row("  dev server RSS", lambda b, w=w: w(b)["server_rss_mb"], " MB")
            row("  time until all are waiting", lambda b, w=w: w(b)["all_waiting_s"], " s")
            row("  mandate.api.list_pending", lambda b, w=w: w(b)["list_pending_s"], " s")
            row(f"  approve all (api.decide, {report['decide_concurrency']} at a time)",
                lambda b, w=w: w(b)["approve_all_s"], " s")
            row("  approve all, until every run completed", lambda b, w=w: w(b)["approve_all_until_complete_s"], " s")
    if present("kill"):
        section("kill (api.kill_agent with rollback → every run rolled back, results in)")
        for n in sorted({int(n) for b in backends.values() for n in b.get("kill", {})}):
            row(f"{n} runs", lambda b, n=n: b["kill"][str(n)]["kill_seconds"], " s")
            row("  per run", lambda b, n=n: b["kill"][str(n)]["ms_per_run"], " ms")
        row("growth exponent x (time ∝ runs^x)", lambda b: b["kill_growth_exponent"], "",
            f"x <= {lim['kill_growth_exponent_max']} (linear)",
            lambda b: None if b["kill_growth_exponent"] is None
            else b["kill_growth_exponent"] <= lim["kill_growth_exponent_max"])
    if present("replay"):
        section("replay (one long governed history, as `mandate replay` replays it)")
        row("history events", lambda b: b["replay"]["events"])
        row("replay events / s (warm, median of 3)", lambda b: b["replay_events_per_s"], "",
            f"> {lim['replay_events_per_s_min']:,}", lambda b: b["replay_events_per_s"] > lim["replay_events_per_s_min"])
        row("replay events / s (first replay)", lambda b: b["replay"]["replay_events_per_s_cold"])
        row("  the SDK's default Replayer, sandboxed (warm)", lambda b: b["replay"]["replay_events_per_s_sandboxed"])
        row("incident report (mandate.review: replay, build, render markdown)",
            lambda b: b["replay"].get("incident_report_s"), " s")
    console.print(table)
    for name, b in backends.items():
        console.print(f"{name}: {b['elapsed_s']} s")
    notes = [f"{name}: {n}" for name, b in backends.items() for n in b["notes"]] + report["notes"]
    for note in notes:
        console.print(f"note: {note}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    plan = dataclasses.replace(
        QUICK if args.quick else FULL, profile=args.profile, sections=tuple(args.only or SECTIONS)
    )
    if args.sqlite and args.memory:
        backends = ["memory", "sqlite"]
    elif args.sqlite:
        backends = ["sqlite"]
    elif args.memory or args.quick:
        backends = ["memory"]
    else:
        backends = ["memory", "sqlite"]
    report: dict[str, Any] = {
        "mode": plan.mode,
        "machine": machine(),
        "targets": TARGETS,
        "notes": [
            "the worker runs in the benchmark's own process: process RSS and CPU include the client side",
            "approval latency: wall clock from just before the approve signal is sent to the write "
            "activity's start, recorded by an activity interceptor inside the worker",
        ],
        "backends": {},
        "decide_concurrency": plan.decide_concurrency,
        "concurrency": plan.concurrency,
    }
    seed_orders()
    t0 = time.perf_counter()
    for backend in backends:
        report["backends"][backend] = await run_backend(plan, backend)
    report["elapsed_s"] = r(time.perf_counter() - t0, 1)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    primary = backends[0]
    report["primary_backend"] = primary
    report.update(headline(report["backends"][primary]))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under 2 minutes")
    parser.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
    parser.add_argument("--sqlite", action="store_true", help="the dev server on a temporary SQLite file")
    parser.add_argument("--memory", action="store_true", help="the dev server in memory (default for --quick)")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); the default runs all four")
    parser.add_argument("--profile", action="store_true",
                        help="also run the ablation variants (benchmarks/ablations.py) in the overhead comparison")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    # While measuring, whatever writes to stdout (the dev server's banner, the SDK core's warnings)
    # goes to stderr: stdout carries the table and, last, the JSON line.
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        report = asyncio.run(main_async(args))
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
        os.close(real_stdout)
        shutil.rmtree(_HOME, ignore_errors=True)
    console = Console(file=sys.stdout, width=max(120, Console().width), highlight=False)
    render(report, console)
    err.print(f"done in {report['elapsed_s']} s")
    if args.json:
        sys.stdout.flush()
        print(json.dumps(report, default=str), flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
