#!/usr/bin/env python
"""Mandate benchmarks: governance overhead, approval latency, waiting at scale, kill, replay.

    python benchmarks/run.py [--smoke | --quick] [--json] [--sqlite] [--memory] [--only SECTION ...]
                             [--profile] [--rounds N] [--in-flight N]

Starts the dev server (in memory, or on a temporary SQLite file with ``--sqlite``; a full run without
either flag measures both), one worker process per side and drives them from this process; prints a
table, and with ``--json`` one JSON object as the last line of stdout. Progress goes to stderr.
benchmarks/README.md says what each figure means and how the published ones were produced.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before anything reads settings: a fresh shop database and nothing of the developer's state. The worker
# processes inherit it.
_HOME = Path(tempfile.mkdtemp(prefix="mandate-bench-"))
os.environ["MANDATE_HOME"] = str(_HOME)
os.environ.pop("MANDATE_APP", None)  # the benchmark serves its own agents only
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from rich.console import Console  # noqa: E402

import mandate.activities.shop  # noqa: E402,F401  (registers the shop's tools)
from benchmarks.sides import APPROVER, REQUESTED_BY  # noqa: E402
from mandate.contract import MONITOR  # noqa: E402
from mandate.keys import ensure_demo_keys  # noqa: E402

# Decisions and starts are signed as the CLI signs them: demo keys for who signs, as `mandate dev` makes them.
ensure_demo_keys([REQUESTED_BY, APPROVER, MONITOR, "sam@example.com", "qi@example.com", "ana@example.com", "cfo@example.com"])
from benchmarks.harness import SECTIONS, SIZES, Plan, err, open_stack, seed_orders  # noqa: E402
from benchmarks.measures import kill, latency, overhead, replay, waiting  # noqa: E402
from benchmarks.probes import machine, r, rss_mb  # noqa: E402
from benchmarks.report import TARGETS, headline, render  # noqa: E402
from mandate.logging import configure_logging  # noqa: E402


async def run_backend(plan: Plan, backend: str) -> dict[str, Any]:
    err.print(f"[bold]{backend}[/bold]: starting the dev server and the two worker processes")
    out: dict[str, Any] = {"backend": backend, "errors": {}}
    t0 = time.perf_counter()
    async with open_stack(plan, backend, _HOME) as stack:

        async def section(name: str, measure: Callable[[], Awaitable[Any]]) -> None:
            """Run one measure; a failure is reported (and fails the exit status), the others still run."""
            if name not in plan.sections:
                return
            try:
                out[name] = await measure()
            except Exception as exc:  # noqa: BLE001
                err.print(f"[red]{name} failed[/red]: {''.join(traceback.format_exception(exc))}")
                out["errors"][name] = f"{type(exc).__name__}: {exc}"
                stack.notes.append(f"{name} failed: {type(exc).__name__}: {exc}")

        loaded: dict[str, Any] = {}

        async def overhead_and_samples() -> dict[str, Any]:
            result, loaded["samples"] = await overhead.measure(stack)
            return result

        await section("overhead", overhead_and_samples)
        await section("latency", lambda: latency.measure(stack, loaded.get("samples")))
        await section("waiting", lambda: _each(plan.waiting, lambda k: waiting.measure(stack, k)))
        await section("kill", lambda: _each(plan.kill, lambda n: kill.measure(stack, n)))
        await section("replay", lambda: replay.measure(stack, _HOME))
        out["worker_rss_mb_end"] = {side: rss_mb(stack.pids[side]) for side in ("governed", "plain")}
        out["notes"] = stack.notes
    out["elapsed_s"] = r(time.perf_counter() - t0, 1)
    out.update(headline(out))
    return out


async def _each(sizes: tuple[int, ...], measure: Callable[[int], Awaitable[Any]]) -> dict[str, Any]:
    return {str(size): await measure(size) for size in sizes}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    plan = dataclasses.replace(SIZES[size], profile=args.profile, sections=tuple(args.only or SECTIONS))
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    if args.in_flight:
        plan = dataclasses.replace(plan, in_flight=args.in_flight, batch=max(plan.batch, 6 * args.in_flight))
    if args.sqlite and args.memory:
        backends = ["memory", "sqlite"]
    elif args.sqlite:
        backends = ["sqlite"]
    elif args.memory or size != "full":
        backends = ["memory"]
    else:
        backends = ["memory", "sqlite"]
    report: dict[str, Any] = {
        "size": size,
        "plan": dataclasses.asdict(plan),
        "machine": machine(),
        "targets": TARGETS,
        "notes": [],
        "backends": {},
    }
    seed_orders()
    t0 = time.perf_counter()
    for backend in backends:
        report["backends"][backend] = await run_backend(plan, backend)
    report["elapsed_s"] = r(time.perf_counter() - t0, 1)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["primary_backend"] = backends[0]
    report.update(headline(report["backends"][backends[0]]))
    if size == "smoke":
        report["notes"].append("smoke size: proves the measures run; the figures mean nothing")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--smoke", action="store_true", help="tiny sizes: each section in under a minute")
    group.add_argument("--quick", action="store_true", help="small sizes: a few minutes, rough figures")
    parser.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
    parser.add_argument("--sqlite", action="store_true", help="the dev server on a temporary SQLite file")
    parser.add_argument("--memory", action="store_true", help="the dev server in memory (the default unless full)")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); the default runs all")
    parser.add_argument("--profile", action="store_true",
                        help="overhead: also the input-mandate and governed-direct sides (benchmarks/ablations.py)")
    parser.add_argument("--rounds", type=int, help="overhead: rounds (default: by size)")
    parser.add_argument("--in-flight", type=int, help="overhead and latency: runs in flight (default: by size)")
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    # While measuring, whatever writes to stdout (the dev server's banner, the SDK core's warnings, the worker
    # processes) goes to stderr: stdout carries the table and, last, the JSON line.
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
    render(report, Console(file=sys.stdout, width=max(140, Console().width), highlight=False))
    err.print(f"done in {report['elapsed_s']} s")
    if args.json:
        sys.stdout.flush()
        print(json.dumps(report, default=str), flush=True)
    return 1 if any(b["errors"] for b in report["backends"].values()) else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
