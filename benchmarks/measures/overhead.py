"""Overhead: governed time per run against plain time per run, with the cores saturated.

Each round runs one batch per side (``plan.batch`` runs, ``plan.in_flight`` at a time), the sides'
order rotating from round to round (plain, governed; governed, plain; ...) so that drift on the
machine hits both alike. A batch is timed over its steady state only: from the moment its
``in_flight``-th run finishes to the moment its ``batch - in_flight``-th does, so neither the start
(every run in its first step at once) nor the tail (fewer than ``in_flight`` left) is counted. At
those two moments the harness reads the CPU of the side's worker process, of the dev server, of this
(client) process and of the whole machine.

Per round: the wall ratio (governed seconds per run / plain seconds per run in the window) and the
CPU ratio (worker + server CPU per run, governed / plain; the client's CPU is reported apart). The
headline ``overhead_ratio`` is the median of the rounds' wall ratios; its IQR and its mean with a 95 %
confidence interval come with it. Utilisation is the CPU of the benchmark's processes over the window
divided by wall time x usable cores: near 1 the cores are saturated and the wall ratio measures
throughput; well below 1 fixed waits (task dispatch, polling) pull it towards 1.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.ablations import PROFILE_SIDES
from benchmarks.harness import Stack, bounded, err
from benchmarks.measures.history import history_cost
from benchmarks.probes import Snapshot, pct, r, snapshot, summary, usable_cores
from benchmarks.sides import SIDES, new_load, one_run

__all__ = ["measure", "batch", "SATURATED"]

SATURATED = 0.9  # utilisation below which the report says the load did not saturate the cores


async def batch(stack: Stack, side: str, n: int, in_flight: int) -> dict[str, Any]:
    """``n`` runs of ``side``, ``in_flight`` at a time, measured over their steady state."""
    lo, hi = (in_flight, n - in_flight) if n >= 3 * in_flight else (0, n)
    snaps: dict[int, Snapshot] = {}
    if lo == 0:
        snaps[0] = snapshot(stack.pids)
    finished = 0

    async def run(_: int) -> dict[str, Any]:
        nonlocal finished
        sample = await one_run(stack, SIDES[side])
        finished += 1
        sample["k"] = finished
        if finished in (lo, hi):
            snaps[finished] = snapshot(stack.pids)
        return sample

    samples = await bounded(in_flight, range(n), run)
    window = snaps[hi].minus(snaps[lo])
    runs, wall, cpu = hi - lo, window["wall_s"], window["cpu_s"]
    worker = SIDES[side].worker
    worker_cpu, server_cpu, client_cpu = cpu.get(worker, 0.0), cpu.get("server", 0.0), window["client_cpu_s"]
    return {
        "side": side,
        "runs": runs,
        "wall_s": wall,
        "s_per_run": wall / runs,
        "worker_cpu_s": worker_cpu,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "idle_worker_cpu_s": sum(v for k, v in cpu.items() if k not in (worker, "server")),
        "utilisation": (sum(cpu.values()) + client_cpu) / (wall * usable_cores()),
        "machine_busy": window["machine_busy"],
        "samples": [s for s in samples if lo < s["k"] <= hi],
    }


def _side_report(side: str, batches: list[dict[str, Any]], plain: list[dict[str, Any]]) -> dict[str, Any]:
    runs = sum(b["runs"] for b in batches)
    samples = [s for b in batches for s in b["samples"]]

    def ms_per_run(key: str) -> float | None:
        return r(sum(b[key] for b in batches) / runs * 1000, 2)

    def p(key: str, q: float) -> float | None:
        return r(pct([s[key] * 1000 for s in samples], q), 1)

    return {
        "wf_per_s": r(runs / sum(b["wall_s"] for b in batches), 2),
        "ratio_to_plain": summary([b["s_per_run"] / pb["s_per_run"] for b, pb in zip(batches, plain, strict=True)]),
        "cpu_ratio_to_plain": summary([
            (b["worker_cpu_s"] + b["server_cpu_s"]) / b["runs"] / ((pb["worker_cpu_s"] + pb["server_cpu_s"]) / pb["runs"])
            for b, pb in zip(batches, plain, strict=True)
        ]),
        "worker_cpu_ms_per_run": ms_per_run("worker_cpu_s"),
        "server_cpu_ms_per_run": ms_per_run("server_cpu_s"),
        "client_cpu_ms_per_run": ms_per_run("client_cpu_s"),
        "idle_worker_cpu_ms_per_run": ms_per_run("idle_worker_cpu_s"),
        "utilisation": r(statistics.median(b["utilisation"] for b in batches), 3),
        "machine_busy": r(statistics.median(b["machine_busy"] or 0.0 for b in batches), 3),
        "run_ms_p50": p("total_s", 0.5),
        "run_ms_p95": p("total_s", 0.95),
        "start_call_ms_p50": p("start_call_s", 0.5),
        "start_to_request_ms_p50": p("to_request_s", 0.5),
        "decision_call_ms_p50": p("decision_call_s", 0.5),
        "approval_latency_ms_p50": p("approval_latency_s", 0.5),
        "approval_latency_ms_p95": p("approval_latency_s", 0.95),
        "queries_per_run": r(statistics.fmean(s["queries"] for s in samples), 2) if samples else None,
    }


async def measure(stack: Stack) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The overhead report, and every side's steady-state samples (the latency measure reads them)."""
    p = stack.plan
    sides = ["plain", "governed", *(PROFILE_SIDES if p.profile else ())]
    err.print(f"  overhead: {p.warmup} warm-up runs per side, then {p.rounds} rounds of {p.batch} runs per side "
              f"({', '.join(sides)}), {p.in_flight} in flight")
    new_load()
    for side in sides if p.warmup else ():
        await batch(stack, side, p.warmup, min(p.in_flight, p.warmup))
    batches: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for i in range(p.rounds):
        k = i % len(sides)
        for side in sides[k:] + sides[:k]:
            batches[side].append(await batch(stack, side, p.batch, p.in_flight))
        g, pl = batches["governed"][-1], batches["plain"][-1]
        err.print(f"    round {i + 1}: ratio {g['s_per_run'] / pl['s_per_run']:.3f}, utilisation "
                  f"{pl['utilisation']:.2f} / {g['utilisation']:.2f} (plain / governed)")
    out: dict[str, Any] = {
        "rounds": p.rounds,
        "runs_per_batch": p.batch,
        "window_runs_per_batch": batches["plain"][0]["runs"],
        "in_flight": p.in_flight,
        "cores_usable": usable_cores(),
    }
    for side in sides:
        out[side] = _side_report(side, batches[side], batches["plain"])
        ids = [s["id"] for s in batches[side][-1]["samples"][-10:]]
        out[side]["history"] = await history_cost(stack.client, ids)
    gov = out["governed"]
    out.update(
        overhead_ratio=gov["ratio_to_plain"]["median"],
        overhead_ratio_rounds=gov["ratio_to_plain"],
        cpu_ratio=gov["cpu_ratio_to_plain"]["median"],
        cpu_ratio_rounds=gov["cpu_ratio_to_plain"],
        utilisation=min(out["plain"]["utilisation"], gov["utilisation"]),
    )
    if out["utilisation"] < SATURATED:
        stack.notes.append(
            f"overhead: utilisation {out['utilisation']:.2f} < {SATURATED}: the cores were not saturated, so fixed "
            f"waits pull the wall ratio towards 1; raise --in-flight (it was {p.in_flight})"
        )
    samples = {side: [s for b in batches[side] for s in b["samples"]] for side in sides}
    return out, samples
