"""Approval latency: from the moment the approver's decision is sent to the moment the write starts.

Sent: just before ``mandate.api.decide`` is called (governed: describe, worker check, ``decide``
update: the whole of ``mandate approve``), or just before the ``approve`` signal (plain). Started:
when the write activity starts executing in its worker process (``time.time()`` there, sent back
through the hint pipe; one machine, one clock). ``decision_call`` is how long the call itself took.

Two loads:

- **under load**: the overhead measure's steady-state runs (or, when ``--only latency``, one round of
  its batches), with the cores saturated: CPU queueing dominates; with ``--profile`` also the
  ``governed-direct`` side, the governed run approved by signal as the plain one is;
- **one at a time**: ``plan.latency_alone`` runs per side, alternating, after two unmeasured ones:
  the dev server's workflow-task dispatch and the decision path's round trips dominate.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Stack, err
from benchmarks.measures import overhead
from benchmarks.probes import pct, r
from benchmarks.sides import SIDES, new_load, one_run

__all__ = ["measure"]


def _figures(samples: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [s["approval_latency_s"] * 1000 for s in samples]
    call = [s["decision_call_s"] * 1000 for s in samples]
    return {
        "runs": len(samples),
        "p50_ms": r(pct(lat, 0.5), 1),
        "p95_ms": r(pct(lat, 0.95), 1),
        "decision_call_p50_ms": r(pct(call, 0.5), 1),
    }


async def measure(stack: Stack, loaded: dict[str, list[dict[str, Any]]] | None) -> dict[str, Any]:
    p = stack.plan
    if loaded is None:
        err.print(f"  latency: one round of {p.batch} runs per side, {p.in_flight} in flight")
        loaded = {}
        for side in ("plain", "governed") if p.warmup else ():
            await overhead.batch(stack, side, p.warmup, min(p.in_flight, p.warmup))
        for side in ("plain", "governed"):
            loaded[side] = (await overhead.batch(stack, side, p.batch, p.in_flight))["samples"]
    err.print(f"  latency: {p.latency_alone} runs per side one at a time")
    alone: dict[str, list[dict[str, Any]]] = {"plain": [], "governed": []}
    new_load()
    for i in range(p.latency_alone + 2):
        for side in ("plain", "governed"):
            sample = await one_run(stack, SIDES[side])
            if i >= 2:
                alone[side].append(sample)
    out: dict[str, Any] = {"in_flight": p.in_flight}
    for side in ("plain", "governed"):
        out[side] = {"under_load": _figures(loaded[side]), "alone": _figures(alone[side])}
    if "governed-direct" in loaded:  # --profile: the governed run approved by signal, as the plain one is
        out["governed-direct"] = {"under_load": _figures(loaded["governed-direct"])}
    return out
