"""Replay: one long governed history replayed as ``mandate replay`` replays it, and as the SDK would.

One governed run receives malformed ``approve`` signals (each refused and recorded, never failing the
run) until its history has about ``plan.replay_events`` events, then is approved and completes. Its
history is replayed four times in this process with ``mandate.review.replay.replayer`` (the SDK's
``Replayer``, pydantic converter, no sandbox, an interceptor keeping the instance for the report); the
figure is events / the median of the last three (the first, cold, is shown too). The SDK's default,
sandboxed ``Replayer`` (same data converter) is timed the same way. Then the incident report: ``replay_history``,
``build_report``, ``render_markdown``, the file written.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from temporalio.worker import Replayer

from benchmarks.bench_agents import BENCH_AGENT, BenchAgent
from benchmarks.harness import Stack, bounded, err, until
from benchmarks.probes import r
from benchmarks.sides import approval, pending_item, start_governed

__all__ = ["measure"]


async def measure(stack: Stack, home: Path) -> dict[str, Any]:
    target = stack.plan.replay_events
    err.print(f"  replay: one governed run with ~{target} events (malformed approve signals)")
    handle = await start_governed(stack)
    r1 = await until(lambda: pending_item(handle), every=0.05, timeout=120, what="the approval request")
    signals = 0
    while True:
        info = (await handle.describe()).raw_description.workflow_execution_info
        missing = target - 12 - info.history_length  # the approval and the end add about a dozen events
        if missing <= 0:
            break
        burst = max(20, min(1000, missing // 2))  # a signal adds one event, plus its share of a workflow task
        await bounded(25, range(burst), lambda _: handle.signal("approve", "not a decision"))
        signals += burst
    await handle.signal("approve", await approval(handle, stack.client.namespace, BENCH_AGENT, r1))
    result = await handle.result()
    history = await handle.fetch_history()
    events = len(history.events)
    stack.hints.clear()
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

    review = review_replayer([BenchAgent])
    times = await timed(review)
    # the same converter as `mandate replay`, so the two differ only by the sandbox (and the interceptor)
    sandboxed = await timed(Replayer(workflows=[BenchAgent], data_converter=review.config()["data_converter"]))
    warm, warm_sandboxed = statistics.median(times[1:]), statistics.median(sandboxed[1:])
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
    out.update(await _incident_report(stack, history, home))
    return out


async def _incident_report(stack: Stack, history: Any, home: Path) -> dict[str, Any]:
    try:
        from mandate.review import build_report, render_markdown, replay_history
    except ImportError as exc:
        note = f"incident report not timed: mandate.review is not available ({exc})"
        stack.notes.append(note)
        return {"incident_report_s": None, "incident_report_note": note}
    try:
        t = time.perf_counter()
        outcome = await replay_history(history, workflows=[BenchAgent])
        text = render_markdown(build_report(history, outcome))
        (home / "incident.md").write_text(text, encoding="utf-8")
        elapsed = time.perf_counter() - t
    except Exception as exc:  # noqa: BLE001  (report it and go on: the other figures stand)
        note = f"incident report failed: {type(exc).__name__}: {exc}"
        stack.notes.append(note)
        return {"incident_report_s": None, "incident_report_note": note}
    return {"incident_report_s": r(elapsed, 3), "incident_report_bytes": len(text.encode())}
