"""Real processes for the reliability suite: a Temporal dev server, `mandate worker`s, the `mandate` CLI.

Everything here starts a real subprocess in its own process group, on free ports, in a
temporary directory that holds a copy of ``charters/`` and its own ``MANDATE_HOME`` (so each
stack has a fresh shop database). Every wait is bounded; ``Stack.close`` kills whatever is
still running, and the fixture in ``conftest.py`` always calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

import mandate.activities.shop  # noqa: F401  (registers the shop's tools)
from mandate import api
from mandate import search_attributes as sa
from mandate.charter import Charter, load_charters
from mandate.keys import keys_path, load_keys
from mandate.run import AgentResult, AgentRunInput, AgentStatus
from mandate.tools import registry
from mandate.worker.dev_server import limit_flags
from tests.helpers import signed_start

T = TypeVar("T")


class HarnessError(RuntimeError):
    """A server or worker of the harness did not start or stop: not a finding about Mandate."""


class ContractBroken(AssertionError):
    """Mandate broke a promise the suite checks; the tests of known findings expect exactly this."""


def expect(condition: object, message: str) -> None:
    """Like ``assert``, but a failure is a ``ContractBroken`` (what ``xfail(raises=...)`` waits for)."""
    if not condition:
        raise ContractBroken(message)


# Every process the harness started, so that a crash of the test process itself leaves none behind.
_STARTED: list[subprocess.Popen[bytes]] = []


def kill_leftovers() -> None:
    for proc in _STARTED:
        _kill_group(proc)


REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TASK_QUEUE = "mandate"
AGENT = "refund-agent"
BOB, RAJ, SAM, QI = "bob@example.com", "raj@example.com", "sam@example.com", "qi@example.com"

SERVER_START_TIMEOUT = 60.0
WORKER_START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
CALL_TIMEOUT = 90.0

# Orders the seeded shop refunds (delivered within 30 days) and those its policy declines:
# every 7th was delivered 45 days ago, every 10th is in transit.
ELIGIBLE = [o for o in range(1001, 1051) if (o - 1000) % 7 and (o - 1000) % 10]
INELIGIBLE = [o for o in range(1001, 1051) if not (o - 1000) % 7 or not (o - 1000) % 10]

_SA_TYPES = {
    "KEYWORD": "Keyword",
    "KEYWORD_LIST": "KeywordList",
    "INT": "Int",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "TEXT": "Text",
}


def executable(name: str) -> str:
    beside = BIN / name
    return str(beside) if beside.exists() else (shutil.which(name) or "")


MANDATE = executable("mandate")
TEMPORAL = executable("temporal")


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one ``error: `` line a CLI command that failed (exit 1) printed, and nothing else."""
    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def search_attribute_flags() -> list[str]:
    flags = []
    for key in sa.ALL:
        kind = _SA_TYPES[IndexedValueType.Name(key.indexed_value_type).removeprefix("INDEXED_VALUE_TYPE_")]
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


def clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "MANDATE_")) and k not in ("COLUMNS", "LINES", "FORCE_COLOR")
    }
    env["MANDATE_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    return env


def _kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the process's group, unless it has been reaped: its id may belong to another process by now."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- waiting


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, every: float = 0.25
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the last value after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        with contextlib.suppress(Exception):
            last = await probe()
            if last:
                return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"[:2000])
        await asyncio.sleep(every)


async def bounded(items: Iterable[Any], fn: Callable[[Any], Awaitable[T]], limit: int) -> list[T]:
    """``fn`` over ``items``, at most ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: Any) -> T:
        async with gate:
            return await fn(item)

    return await asyncio.gather(*(one(i) for i in items))


# --------------------------------------------------------------------------- the Temporal server


@dataclass
class TemporalServer:
    """`temporal server start-dev` on a SQLite file, headless, Mandate's search attributes registered."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.root / "temporal.db"

    @property
    def log(self) -> Path:
        return self.root / f"server-{self.starts}.log"

    async def start(self) -> None:
        """Start it; a port taken between ``free_port()`` and the server's bind is picked again (twice at most)."""
        for attempt in range(3):
            try:
                return await self._start()
            except HarnessError as err:
                if "address already in use" not in str(err) or attempt == 2:
                    raise
                if self.starts == 1 and f"127.0.0.1:{self.port}:" in str(err):
                    self.port = free_port()  # a first start may move; a restart keeps its address

    async def _start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.starts += 1
        cmd = [
            TEMPORAL,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--db-filename",
            str(self.db),
            "--log-level",
            "error",
            *search_attribute_flags(),
            *limit_flags(),  # the limits `mandate dev` and the compose stack set
        ]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _STARTED.append(self.proc)
        await self.wait_ready()

    async def wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SERVER_START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise HarnessError(f"temporal server exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                client = await asyncio.wait_for(connect(self.address), timeout=10)
                # Visibility answers and knows Mandate's attributes: the namespace is usable.
                await client.count_workflows(f"{sa.AGENT.name} = 'probe'")
                return
            except Exception as err:  # noqa: BLE001
                if loop.time() > deadline:
                    raise HarnessError(
                        f"temporal server not ready after {SERVER_START_TIMEOUT:.0f}s ({err}):\n{_tail(self.log)}"
                    ) from None
            await asyncio.sleep(0.3)

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the server with ``sig``; SIGKILL after STOP_TIMEOUT. Returns its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait(timeout=10)
        _kill_group(proc)  # anything it left behind
        return proc.returncode


# --------------------------------------------------------------------------- workers


@dataclass
class WorkerProc:
    """One `mandate worker` subprocess."""

    proc: subprocess.Popen[bytes]
    log: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight tasks are lost with the process."""
        _kill_group(self.proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM: the worker finishes in-flight tasks and exits."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        _kill_group(self.proc)
        return self.proc.returncode

    def output(self) -> str:
        return _tail(self.log, 20000)


# --------------------------------------------------------------------------- CLI results


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    def __str__(self) -> str:
        shown = " ".join(a if len(a) < 120 else a[:117] + "..." for a in self.args)
        return (
            f"$ {shown}\n-> exit {self.returncode} in {self.seconds:.1f}s\n--- stdout\n{self.stdout[-3000:]}"
            f"\n--- stderr\n{self.stderr[-3000:]}"
        )

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> Any:
        return json.loads(self.stdout)


# --------------------------------------------------------------------------- a stack


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=pydantic_data_converter)


def patch_charter(path: Path, replacements: dict[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert re.search(old, text, flags=re.M), f"{old!r} not in {path}"
        text = re.sub(old, new, text, flags=re.M)
    path.write_text(text, encoding="utf-8")


class Stack:
    """A server, its workers, a client and the CLI, all in one temporary directory."""

    def __init__(self, root: Path, *, quiet_monitor: bool = True) -> None:
        self.root = root
        self.cwd = root / "cwd"
        self.cwd.mkdir(parents=True)
        shutil.copytree(REPO / "charters", self.cwd / "charters")
        if quiet_monitor:
            # Many tests reject on purpose; the shipped thresholds would (rightly) make the monitor roll
            # the fleet back mid-test. The monitor still runs, it just needs more samples than we make.
            patch_charter(
                self.cwd / "charters" / f"{AGENT}.toml", {r"^min_samples = \d+": "min_samples = 1000000"}
            )
        self.home = root / "home"
        self.env = clean_env(self.home)
        self._share_demo_keys()
        self.server = TemporalServer(root)
        self.workers: list[WorkerProc] = []
        self._client: Client | None = None
        self.charters: dict[str, Charter] = load_charters(self.cwd / "charters", registry)
        self.cli_calls: list[Result] = []

    def _share_demo_keys(self) -> None:
        """Signing keys, as `mandate dev` makes them for the people its charters name: the stack's workers
        verify with the test session's demo keys file, and the stack's home holds copies of the session's
        private keys, so `mandate approve --as RAJ` here and a decision the test signs itself both sign
        with keys the file lists. Anyone else gets a demo key on first use, in the same file."""
        self.env["MANDATE_KEYS"] = str(keys_path())
        shutil.copytree(Path(os.environ["MANDATE_HOME"]) / "keys", self.home / "keys")

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def shop(self) -> Path:
        return self.home / "shop.db"

    async def start_server(self) -> None:
        await self.server.start()
        self._client = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await connect(self.address)
        return self._client

    # ---- workers

    async def start_worker(self, *, wait: bool = True) -> WorkerProc:
        log = self.root / f"worker-{len(self.workers) + 1}.log"
        # `mandate worker` refuses a demo keys file unless told: most stacks share the test session's demo
        # file (`_share_demo_keys`), so they pass --allow-demo-keys; a stack given real keys (test_attacks)
        # runs without it, as a deployment does.
        demo = load_keys(Path(self.env.get("MANDATE_KEYS") or self.home / "keys.toml")).demo
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [MANDATE, "worker", "--address", self.address, *(["--allow-demo-keys"] if demo else [])],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _STARTED.append(proc)
        w = WorkerProc(proc=proc, log=log, started_at=time.time())
        self.workers.append(w)
        if wait:
            await self.wait_worker(w)
        return w

    async def pollers(self, since: float = 0.0) -> list[Any]:
        client = await self.client()
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return [p for p in response.pollers if p.last_access_time.ToDatetime().timestamp() >= since - 1]

    async def wait_worker(self, w: WorkerProc) -> None:
        """Until this worker polls (a poll newer than its start) and its monitor answers queries."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WORKER_START_TIMEOUT
        while True:
            if not w.alive():
                raise HarnessError(f"`mandate worker` exited with {w.proc.returncode}:\n{w.output()}")
            try:
                if "worker on task queue" in w.output() and await self.pollers(since=w.started_at):
                    await api.pause_state(await self.client(), AGENT)
                    return
            except Exception:  # noqa: BLE001
                pass
            if loop.time() > deadline:
                raise HarnessError(
                    f"`mandate worker` not polling after {WORKER_START_TIMEOUT:.0f}s:\n{w.output()}"
                )
            await asyncio.sleep(0.3)

    # ---- runs

    async def start_run(self, order_id: int, *, reason: str = "arrived damaged", direct: bool = False) -> str:
        """Start a refund run as `mandate start` does (asks the monitor); ``direct`` skips the monitor."""
        client = await self.client()
        payload = {"order_id": order_id, "reason": reason}
        if direct:
            workflow_id = f"{AGENT}-{os.urandom(6).hex()}"
            handle = await client.start_workflow(
                "RefundAgent",
                AgentRunInput(
                    input=payload,
                    requested_by=BOB,
                    start=signed_start(client.namespace, AGENT, workflow_id, payload, BOB),
                ),
                id=workflow_id,
                task_queue=TASK_QUEUE,
            )
            return handle.id
        return await api.start_agent(
            client, self.charters, AGENT, input=payload, requested_by=BOB, task_queue=TASK_QUEUE
        )

    async def write_key(self, workflow_id: str, request: str) -> str:
        """The idempotency key of the run's write for ``request``: from protocol 4 it names the run too."""
        client = await self.client()
        return f"{workflow_id}:{(await client.get_workflow_handle(workflow_id).describe()).run_id}:{request}"

    def handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        assert self._client is not None
        return self._client.get_workflow_handle(workflow_id)

    async def status(self, workflow_id: str) -> AgentStatus:
        client = await self.client()
        return await client.get_workflow_handle(workflow_id).query("status", result_type=AgentStatus)

    async def wait_status(
        self, workflow_id: str, what: str, check: Callable[[AgentStatus], bool], timeout: float = 60
    ) -> AgentStatus:
        async def probe() -> AgentStatus | None:
            s = await self.status(workflow_id)
            return s if check(s) else None

        return await eventually(probe, timeout=timeout, what=f"{workflow_id}: {what}")

    async def wait_pending(self, workflow_id: str, tool: str, timeout: float = 60) -> AgentStatus:
        return await self.wait_status(
            workflow_id,
            f"a pending {tool} request",
            lambda s: any(r.tool == tool for r in s.pending),
            timeout=timeout,
        )

    async def result(self, workflow_id: str, timeout: float = 60) -> AgentResult:
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id, result_type=AgentResult)
        return await asyncio.wait_for(handle.result(), timeout=timeout)

    # ---- the CLI

    def cli(self, *args: str, timeout: float = CALL_TIMEOUT, address: bool = True) -> Result:
        cmd = [MANDATE, *args] + (["--address", self.address] if address else [])
        began = time.monotonic()
        proc = subprocess.run(
            cmd, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        r = Result(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - began)
        self.cli_calls.append(r)
        return r

    async def acli(self, *args: str, timeout: float = CALL_TIMEOUT, address: bool = True) -> Result:
        """The CLI without blocking the event loop (for calls made concurrently)."""
        cmd = [MANDATE, *args] + (["--address", self.address] if address else [])
        began = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise AssertionError(f"`{' '.join(cmd)}` did not finish in {timeout:.0f}s") from None
        r = Result(cmd, proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
        r.seconds = time.monotonic() - began
        self.cli_calls.append(r)
        return r

    # ---- the shop

    def refunds(self) -> list[tuple[int, str, str]]:
        """Every refund row: (order_id, status, idempotency_key)."""
        return self._read("SELECT order_id, status, idempotency_key FROM refunds ORDER BY id")

    def notifications(self) -> list[tuple[int, str]]:
        return self._read("SELECT order_id, idempotency_key FROM notifications ORDER BY id")

    def _read(self, sql: str) -> list[Any]:
        """Rows from the stack's shop database, read-only (none before the first tool created it)."""
        if not self.shop.exists():
            return []
        db = sqlite3.connect(f"file:{self.shop}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    # ---- teardown

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.server.stop(signal.SIGKILL)

    def logs(self) -> str:
        parts = [
            f"--- {w.log.name} (pid {w.pid}, exit {w.proc.returncode})\n{w.output()[-4000:]}"
            for w in self.workers
        ]
        parts.append(f"--- {self.server.log.name}\n{_tail(self.server.log)}")
        return "\n".join(parts)


# --------------------------------------------------------------------------- after the fact


async def replay_failures(st: Stack, workflow_ids: Iterable[str]) -> list[tuple[str, str]]:
    """Replay each run's history against today's code; the ones that diverge, with why."""
    from mandate.review.replay import replay_history
    from mandate.worker.agents import discover, replayable_workflows

    workflows = replayable_workflows(discover().workflows)

    client = await st.client()
    failures = []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        outcome = await replay_history(history, workflows)
        if not outcome.reproduced:
            failures.append((workflow_id, (outcome.failure or "?")[:300]))
    return failures


def refunds_per_order(st: Stack) -> dict[int, list[tuple[str, str]]]:
    """order id -> [(status, idempotency key)] for every refund row in the shop."""
    found: dict[int, list[tuple[str, str]]] = {}
    for order_id, status, key in st.refunds():
        found.setdefault(order_id, []).append((status, key))
    return found
