"""The `mandate` command line, run as a user runs it: real subprocesses against a real `mandate dev`.

One `mandate dev` (embedded Temporal dev server + worker) serves the whole module, on free
ports, in a temporary directory holding a copy of `charters/` and its own MANDATE_HOME.
Every command is the installed `mandate` (or the stock `temporal` CLI) with
`--address 127.0.0.1:PORT`; the tests read only what a user sees: exit codes, stdout, stderr,
and the demo shop's SQLite file.

A `mandate` command used to die *after* doing its work, while the interpreter finalized
(SIGABRT "Fatal Python error: PyGILState_Release ... finalizing"; temporalio/sdk-python#300);
`mandate.cli.main` now leaves with `os._exit`. The helper below records any such exit crash and
`test_commands_exit_without_crashing` fails if one is seen.
"""

from __future__ import annotations

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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import one_line_error

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _executable(name: str) -> str:
    beside = BIN / name
    return str(beside) if beside.exists() else (shutil.which(name) or "")


MANDATE = _executable("mandate")
TEMPORAL = _executable("temporal")

START_TIMEOUT = 60.0  # the dev server and worker answering
STOP_TIMEOUT = 30.0  # SIGINT to exit
WAIT = 30.0  # a run reaching a state
CALL_TIMEOUT = 60.0  # one CLI call

ID_RE = re.compile(r"^refund-agent-[0-9a-f]{12}$")
DEMO_KEY_MADE = "made a demo signing key for bob@example.com (demo keys file: anyone gets one on first use)\n"
CRASH_CODES = {-signal.SIGABRT, -signal.SIGSEGV, 128 + signal.SIGABRT, 128 + signal.SIGSEGV}

pytestmark = pytest.mark.skipif(
    not (MANDATE and TEMPORAL), reason="`mandate` / `temporal` executables not installed"
)

# Every CLI call that died while the interpreter shut down, for test_commands_exit_without_crashing.
EXIT_CRASHES: list[str] = []


# --------------------------------------------------------------------------- running the CLI


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    crashed_at_exit: bool = False

    def __str__(self) -> str:
        return f"$ {' '.join(self.args)}\n-> exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    @property
    def ok(self) -> bool:
        """Exit 0 (an exit crash is not success: it is also recorded for the crash test)."""
        return self.returncode == 0

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Server:
    address: str
    port: int
    cwd: Path
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "MANDATE_"))
        and k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")
    }
    env["MANDATE_HOME"] = str(home)
    # Output reaches the pipe as it is printed, so an exit crash cannot swallow it.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _exec(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = CALL_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _is_exit_crash(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode in CRASH_CODES


def _strip_crash(stderr: str) -> str:
    cut = stderr.find("Fatal Python error")
    return stderr if cut < 0 else stderr[:cut]


def cli(
    server: Server,
    *args: str,
    address: str | None = "",
    retry: bool = True,
    columns: int | None = None,
    timeout: float = CALL_TIMEOUT,
) -> Result:
    """Run `mandate ARGS --address <server>`; ``retry`` only for commands that are safe to repeat."""
    cmd = [MANDATE, *args]
    addr = server.address if address == "" else address
    if addr is not None:
        cmd += ["--address", addr]
    env = dict(server.env)
    if columns:
        env["COLUMNS"] = str(columns)
    for attempt in range(4):
        proc = _exec(cmd, server.cwd, env, timeout)
        if not _is_exit_crash(proc):
            return Result(cmd, proc.returncode, proc.stdout, proc.stderr)
        EXIT_CRASHES.append(f"{' '.join(args)} -> exit {proc.returncode}: {proc.stderr.strip()[:300]}")
        if not retry or attempt == 3:
            return Result(cmd, proc.returncode, proc.stdout, _strip_crash(proc.stderr), crashed_at_exit=True)
    raise AssertionError("unreachable")


def temporal(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return _exec([TEMPORAL, *args, "--address", server.address], server.cwd, server.env)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT, every: float = 0.25) -> Any:
    """Call ``probe`` until it returns something truthy; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(every)


def status_json(server: Server, workflow_id: str) -> dict[str, Any]:
    r = cli(server, "status", workflow_id, "--json")
    assert r.ok, r
    return r.json()


def wait_status(
    server: Server, workflow_id: str, what: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def probe() -> Any:
        seen.clear()
        seen.update(status_json(server, workflow_id))
        return seen if check(seen) else None

    try:
        return wait_for(what, probe)
    except AssertionError:
        brief = {
            k: seen.get(k) for k in ("state", "outcome", "summary", "pending", "decisions", "refused_total")
        }
        raise AssertionError(f"{workflow_id}: timed out waiting for {what}; last status: {brief}") from None


def start_refund(server: Server, order_id: int, requested_by: str = "bob@example.com") -> tuple[Result, str]:
    r = cli(
        server,
        "start",
        "refund-agent",
        "--input",
        json.dumps({"order_id": order_id, "reason": "arrived damaged"}),
        "--requested-by",
        requested_by,
        retry=False,  # a second start would be a second run
    )
    assert r.ok, r
    workflow_id = r.stdout.strip()
    assert ID_RE.match(workflow_id), r
    return r, workflow_id


def wait_pending_tool(server: Server, workflow_id: str, tool: str) -> dict[str, Any]:
    status = wait_status(
        server,
        workflow_id,
        f"a pending {tool} request",
        lambda s: s["state"] == "waiting_approval" and any(p["tool"] == tool for p in s["pending"]),
    )
    return next(p for p in status["pending"] if p["tool"] == tool)


def shop_refunds(server: Server, order_id: int) -> list[tuple[Any, ...]]:
    db_path = server.home / "shop.db"
    assert db_path.exists(), f"no shop database at {db_path}"
    db = sqlite3.connect(db_path, timeout=10)
    try:
        return db.execute("SELECT order_id, status FROM refunds WHERE order_id = ?", (order_id,)).fetchall()
    finally:
        db.close()


# --------------------------------------------------------------------------- the server


def _start_dev(cwd: Path, home: Path, env: dict[str, str], log: Path) -> Server:
    """`mandate dev` on free ports, answering. A port taken between ``_free_port()`` and the server's bind
    (another test on this machine) is picked again, twice at most, as tests/reliability/_harness.py does."""
    for attempt in range(3):
        port, ui_port = _free_port(), _free_port()
        while ui_port == port:
            ui_port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [MANDATE, "dev", "--port", str(port), "--ui-port", str(ui_port)],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so a hung server can be killed whole
            )
        srv = Server(address=f"127.0.0.1:{port}", port=port, cwd=cwd, home=home, env=env, proc=proc, log=log)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                output = log.read_text(errors="replace")
                if "already in use" in output and attempt < 2:
                    break  # lost the port to someone else: try others
                pytest.fail(f"`mandate dev` exited with {proc.returncode}:\n{output}")
            probe = _exec([MANDATE, "pending", "--address", srv.address], cwd, env, timeout=20)
            if probe.returncode == 0 or _is_exit_crash(probe):
                return srv
            if time.monotonic() > deadline:
                _stop(srv, check=False)
                pytest.fail(
                    f"`mandate dev` not answering after {START_TIMEOUT:.0f}s; last probe: {probe.stderr.strip()}\n"
                    f"{log.read_text(errors='replace')}"
                )
            time.sleep(0.3)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("mandate-cli")
    shutil.copytree(REPO / "charters", cwd / "charters")
    home = cwd / "home"
    srv = _start_dev(cwd, home, _clean_env(home), cwd / "dev.log")
    try:
        yield srv
    finally:
        _stop(srv)


def _stop(srv: Server, *, check: bool = True) -> None:
    proc = srv.proc
    exited_in_time = True
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            exited_in_time = False
    leftovers = True
    try:
        os.killpg(proc.pid, 0)  # anything left in the group `mandate dev` led (the Temporal server)?
    except (ProcessLookupError, PermissionError):
        leftovers = False
    if leftovers or not exited_in_time:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    output = srv.log.read_text(errors="replace")
    if not check:
        return
    assert exited_in_time, f"`mandate dev` ignored SIGINT for {STOP_TIMEOUT:.0f}s:\n{output}"
    assert not leftovers, f"`mandate dev` exited but left processes in its group running:\n{output}"
    assert proc.returncode == 0, f"`mandate dev` exited with {proc.returncode} on SIGINT:\n{output}"
    assert "stopped." in output, output
    assert "Traceback" not in output, output


# --------------------------------------------------------------------------- 1. start, pending, status


@dataclass
class Started:
    result: Result
    workflow_id: str


@pytest.fixture(scope="module")
def run_1003(server: Server) -> Started:
    """A run for order 1003 that has reached its issue_refund approval; test 2 takes it to the end."""
    r, workflow_id = start_refund(server, 1003)
    return Started(r, workflow_id)


def test_start_prints_the_workflow_id_and_the_request_shows_everywhere(
    server: Server, run_1003: Started
) -> None:
    r = run_1003.result
    assert r.ok, r
    assert r.stdout.endswith("\n") and len(r.stdout.splitlines()) == 1, r
    assert r.stdout.strip() == run_1003.workflow_id
    # bob@example.com is named in no charter, so `mandate dev` made no key for him: this first start did.
    assert r.stderr == DEMO_KEY_MADE, r
    workflow_id = run_1003.workflow_id

    def pending_item() -> dict[str, Any] | None:
        p = cli(server, "pending", "--json")
        assert p.ok, p
        items = p.json()
        assert isinstance(items, list), p
        return next(
            (i for i in items if i["workflow_id"] == workflow_id and i["tool"] == "issue_refund"), None
        )

    item = wait_for(f"{workflow_id}'s issue_refund request in `mandate pending --json`", pending_item)
    assert item["agent"] == "refund-agent"
    assert item["id"] == "r1"
    assert item["args"] == {
        "order_id": 1003,
        "amount_cents": item["args"]["amount_cents"],
        "reason": "arrived damaged",
    }
    assert isinstance(item["args"]["amount_cents"], int) and item["args"]["amount_cents"] > 0
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", item["args_hash"]), item
    assert item["approvers"] == ["raj@example.com", "sam@example.com"]
    assert item["requested_by"] == "bob@example.com"
    assert item["status"] == "pending"

    p = cli(server, "pending", "--agent", "refund-agent", "--json")
    assert p.ok, p
    assert any(i["workflow_id"] == workflow_id for i in p.json()), p
    p = cli(server, "pending", "--agent", "no-such-agent", "--json")
    assert p.ok, p
    assert p.json() == [], p

    table = cli(server, "pending", columns=250)
    assert table.ok, table
    assert workflow_id in table.stdout, table
    assert "issue_refund" in table.stdout, table
    assert item["args_hash"][7:19] in table.stdout, table

    s = cli(server, "status", workflow_id, columns=250)
    assert s.ok, s
    assert "waiting_approval" in s.stdout, s
    for owner in ("ana@example.com", "raj@example.com", "qi@example.com", "sam@example.com"):
        assert owner in s.stdout, s
    assert "issue_refund" in s.stdout, s

    status = status_json(server, workflow_id)
    assert status["workflow_id"] == workflow_id
    assert status["state"] == "waiting_approval"
    assert status["requested_by"] == "bob@example.com"
    assert status["owners"] == {
        "workflow": "ana@example.com",
        "risk": "raj@example.com",
        "quality": "qi@example.com",
        "stop_go": "sam@example.com",
    }
    assert [p["id"] for p in status["pending"]] == ["r1"]
    assert [s["tool"] for s in status["steps"]] == ["lookup_order", "check_refund_policy", "issue_refund"]


def test_pending_and_status_read_at_80_columns(server: Server, run_1003: Started) -> None:
    """What a pipe or an 80-column terminal gets: every line fits, and nothing a person decides on is cut."""
    item = wait_pending_tool(server, run_1003.workflow_id, "issue_refund")
    for columns in (None, 80):  # no COLUMNS (a pipe) and an 80-column terminal
        listing = cli(server, "pending", columns=columns)
        assert listing.ok, listing
        out = listing.stdout
        assert [line for line in out.splitlines() if len(line) > 80] == [], out
        assert run_1003.workflow_id in out and "issue_refund" in out, out
        assert "raj@example.com, sam@example.com" in out, out  # the approvers, whole
        assert item["args_hash"] in out, out  # the full hash, never cut across lines
        words = " ".join(out.split())
        assert '{"order_id": 1003, "amount_cents": ' in words and '"reason": "arrived damaged"}' in words, out

    shown = cli(server, "status", run_1003.workflow_id, columns=80)
    assert shown.ok, shown
    assert [line for line in shown.stdout.splitlines() if len(line) > 80] == [], shown.stdout
    words = " ".join(shown.stdout.split())
    for owner in ("ana@example.com", "raj@example.com", "qi@example.com", "sam@example.com"):
        assert owner in words, shown.stdout
    assert "check_refund_policy read/allow completed" in words, shown.stdout
    assert "within the 30-day window" in words, shown.stdout  # a step's result wraps instead of being cut
    assert "approvers raj@example.com, sam@example.com" in words, shown.stdout


# --------------------------------------------------------------------------- 2. approve: refusals, update, signal


def test_approve_refuses_outsiders_and_self_approval_then_update_and_signal_complete_the_refund(
    server: Server, run_1003: Started
) -> None:
    workflow_id = run_1003.workflow_id
    wait_pending_tool(server, workflow_id, "issue_refund")

    line = one_line_error(cli(server, "approve", workflow_id, "--as", "mallory@example.com"))
    assert "mallory@example.com" in line and "not an approver" in line, line

    line = one_line_error(cli(server, "approve", workflow_id, "--as", "bob@example.com"))
    assert "bob@example.com" in line and "approve" in line, line

    # The update's validator refused both before anything reached the history.
    status = status_json(server, workflow_id)
    assert status["state"] == "waiting_approval"
    assert status["decisions"] == []
    assert [p["id"] for p in status["pending"]] == ["r1"]

    r = cli(server, "approve", workflow_id, "--as", "raj@example.com", "--reason", "ok", retry=False)
    assert r.ok, r
    assert "approved" in r.stdout and "r1" in r.stdout and "raj@example.com" in r.stdout, r
    assert "Traceback" not in r.stderr, r

    notify = wait_pending_tool(server, workflow_id, "notify_customer")
    assert notify["id"] == "r2"
    assert "qi@example.com" in notify["approvers"]

    # As from the Web UI's "Send a Signal": the input is the signed decision `mandate sign` prints.
    signed = cli(
        server, "sign", workflow_id, "--as", "qi@example.com", "--decision", "approve", "--reason", "fine"
    )
    assert signed.ok and len(signed.stdout.strip().splitlines()) == 1, signed
    sig = temporal(
        server,
        "workflow",
        "signal",
        "--workflow-id",
        workflow_id,
        "--name",
        "approve",
        "--input",
        signed.stdout.strip(),
    )
    assert sig.returncode == 0, f"{sig.stdout}\n{sig.stderr}"

    status = wait_status(server, workflow_id, "state completed", lambda s: s["state"] == "completed")
    assert status["outcome"] == "refunded", status["summary"]
    decisions = [(d["request_id"], d["kind"], d["approver"], d["channel"]) for d in status["decisions"]]
    assert decisions == [
        ("r1", "approve", "raj@example.com", "update"),
        ("r2", "approve", "qi@example.com", "signal"),
    ]
    assert status["pending"] == []
    assert status["refused_total"] == 0

    assert shop_refunds(server, 1003) == [(1003, "issued")]

    # Nothing is left to decide on a finished run: one line, not a hang or a traceback.
    line = one_line_error(cli(server, "approve", workflow_id, "--as", "raj@example.com"))
    assert workflow_id in line, line


def test_a_decision_without_the_approvers_key_says_the_cause_then_the_command(server: Server, tmp_path: Path) -> None:
    """On a machine that holds no key for the approver, and whose keys file is not a demo file (so none is
    made on first use), the decision is refused in one short line: the cause, then the one fix."""
    r, workflow_id = start_refund(server, 1013)
    assert r.stderr in ("", DEMO_KEY_MADE), r  # bob's demo key is made, and said, at his first start only
    wait_pending_tool(server, workflow_id, "issue_refund")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keys.toml").write_text("# the risk owner's keys file, with no entry yet\n")
    away = replace(server, env={**server.env, "MANDATE_HOME": str(elsewhere), "MANDATE_KEYS": str(elsewhere / "keys.toml")})

    for command in (["approve", workflow_id], ["sign", workflow_id, "--decision", "approve"]):
        line = one_line_error(cli(away, *command, "--as", "raj@example.com", retry=False))
        assert line.startswith("error: no signing key for raj@example.com on this machine; "), line
        assert "`mandate keys new --as raj@example.com`" in line and "risk owner adds the entry it prints" in line
        assert len(line) <= 160, (len(line), line)

    status = status_json(server, workflow_id)
    assert status["decisions"] == [] and [p["id"] for p in status["pending"]] == ["r1"], status
    r = cli(server, "reject", workflow_id, "--as", "sam@example.com", "--reason", "test cleanup", retry=False)
    assert r.ok, r


# --------------------------------------------------------------------------- 3. reject


def test_reject_ends_the_run_without_a_refund(server: Server) -> None:
    _, workflow_id = start_refund(server, 1004)
    wait_pending_tool(server, workflow_id, "issue_refund")

    # --reason is required: one line, exit 1, not a usage box with exit 2
    line = one_line_error(cli(server, "reject", workflow_id, "--as", "sam@example.com"))
    assert "missing option '--reason'" in line and "mandate reject --help" in line, line

    line = one_line_error(cli(server, "reject", workflow_id, "--as", "sam@example.com", "--reason", "   "))
    assert "--reason" in line, line

    status = status_json(server, workflow_id)
    assert status["state"] == "waiting_approval" and status["decisions"] == [], status

    r = cli(server, "reject", workflow_id, "--as", "sam@example.com", "--reason", "not eligible", retry=False)
    assert r.ok, r
    assert "rejected" in r.stdout and "r1" in r.stdout and "sam@example.com" in r.stdout, r

    status = wait_status(server, workflow_id, "state completed", lambda s: s["state"] == "completed")
    assert status["outcome"] == "refund_rejected", status["summary"]
    decisions = [(d["kind"], d["approver"], d["channel"], d["reason"]) for d in status["decisions"]]
    assert decisions == [("reject", "sam@example.com", "update", "not eligible")]
    refund_step = next(s for s in status["steps"] if s["tool"] == "issue_refund")
    assert refund_step["status"] == "rejected"
    assert status["rejections"] == 1

    assert shop_refunds(server, 1004) == []


# --------------------------------------------------------------------------- 4. malformed signals


def test_malformed_signals_from_the_stock_cli_are_refused_and_the_run_keeps_waiting(server: Server) -> None:
    _, workflow_id = start_refund(server, 1005)
    wait_pending_tool(server, workflow_id, "issue_refund")

    for payload in ('"garbage"', '{"approver": 5}'):
        sig = temporal(
            server,
            "workflow",
            "signal",
            "--workflow-id",
            workflow_id,
            "--name",
            "approve",
            "--input",
            payload,
        )
        assert sig.returncode == 0, f"{payload}: {sig.stdout}\n{sig.stderr}"

    status = wait_status(server, workflow_id, "two refused decisions", lambda s: s["refused_total"] >= 2)
    assert status["state"] == "waiting_approval"
    assert status["decisions"] == []
    assert [p["id"] for p in status["pending"]] == ["r1"]
    assert len(status["refused"]) >= 2
    for refused in status["refused"]:
        assert refused["channel"] == "signal"
        assert refused["reason"].strip(), refused
    reasons = " | ".join(r["reason"] for r in status["refused"])
    assert "JSON object" in reasons, reasons  # '"garbage"' is a string, not an object
    assert "approver" in reasons, reasons  # {"approver": 5} names a non-string approver

    described = temporal(server, "workflow", "describe", "--workflow-id", workflow_id, "--output", "json")
    assert described.returncode == 0, described.stderr
    assert "RUNNING" in described.stdout.upper(), described.stdout[:2000]

    text = cli(server, "status", workflow_id, columns=250)
    assert text.ok, text
    assert "refused decisions" in text.stdout, text

    # The run still takes a proper decision after the garbage.
    r = cli(server, "reject", workflow_id, "--as", "sam@example.com", "--reason", "test cleanup", retry=False)
    assert r.ok, r
    status = wait_status(server, workflow_id, "state completed", lambda s: s["state"] == "completed")
    assert status["outcome"] == "refund_rejected"
    assert shop_refunds(server, 1005) == []


# --------------------------------------------------------------------------- 5. user errors


def test_user_errors_are_one_line_with_exit_1(server: Server) -> None:
    line = one_line_error(
        cli(server, "start", "refund-agent", "--input", "not json", "--requested-by", "x@example.com")
    )
    assert "--input" in line and "JSON" in line, line

    line = one_line_error(
        cli(server, "start", "refund-agent", "--input", "[1, 2]", "--requested-by", "x@example.com")
    )
    assert "--input" in line, line

    line = one_line_error(
        cli(server, "start", "no-such-agent", "--input", "{}", "--requested-by", "x@example.com")
    )
    assert "no-such-agent" in line, line

    line = one_line_error(cli(server, "status", "no-such-workflow"))
    assert "no-such-workflow" in line, line

    line = one_line_error(cli(server, "approve", "no-such-workflow", "--as", "raj@example.com"))
    assert "no-such-workflow" in line, line

    line = one_line_error(cli(server, "pending", address="127.0.0.1:1", timeout=30))
    assert "cannot reach Temporal" in line and "127.0.0.1:1" in line, line


def test_dev_on_another_port_prints_the_address_to_export(server: Server) -> None:
    """`mandate dev --port N` says how other terminals reach it, and the line it prints works as printed."""
    printed = re.findall(r"export TEMPORAL_ADDRESS=(\S+)", _dev_said(server, "Ctrl-C to stop."))
    assert printed == [f"127.0.0.1:{server.port}"], server.log.read_text(errors="replace")
    env = {**server.env, "TEMPORAL_ADDRESS": printed[0]}
    listed = _exec([MANDATE, "pending", "--json"], server.cwd, env)
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list), listed.stderr


def test_a_connection_failure_is_one_whole_sentence(server: Server) -> None:
    """Nothing listening, an unknown host, a port that is not Temporal's, an address that is not one: each
    is one `error:` line that says where the CLI looked and why there, what went wrong in words (never
    the SDK core's debug struct, never cut mid-word), and what to do."""
    nobody = f"127.0.0.1:{_free_port()}"
    cases = [
        ({"TEMPORAL_ADDRESS": nobody}, None, f"cannot reach Temporal at {nobody} (from TEMPORAL_ADDRESS): nothing listens there"),
        ({}, nobody, f"cannot reach Temporal at {nobody} (given by --address): nothing listens there"),
        ({}, "no-such-host.invalid:7233", "that host name does not resolve"),
        ({}, f"127.0.0.1:{_ui_port(server)}", "did not answer as a Temporal frontend"),
        ({}, "bad address", "'bad address' (given by --address) is not an address"),
    ]
    for more, address, expected in cases:
        cmd = [MANDATE, "pending", *(["--address", address] if address else [])]
        r = _exec(cmd, server.cwd, {**server.env, **more}, timeout=60)
        line = one_line_error(Result(cmd, r.returncode, r.stdout, r.stderr))
        assert expected in line, line
        assert not re.search(r"tonic|Os \{|ConnectError|\(Transport", line), line
        if "cannot reach" in line:
            assert line.endswith("(`mandate dev --port N` prints the line to export)"), line
            assert "`mandate dev`" in line, line


def _dev_said(server: Server, text: str) -> str:
    """What the module's `mandate dev` printed, once it has printed ``text`` (its server answers before
    it has told its story)."""

    def printed() -> str | None:
        out = server.log.read_text(errors="replace")
        return out if text in out else None

    return wait_for(f"`mandate dev` to print {text!r}", printed)


def _ui_port(server: Server) -> int:
    """The Web UI's port of the module's `mandate dev` (HTTP, not gRPC), from what it printed."""
    found = re.search(r"Web UI: http://localhost:(\d+)/", _dev_said(server, "Ctrl-C to stop."))
    assert found, server.log.read_text(errors="replace")
    return int(found.group(1))


# --------------------------------------------------------------------------- 6. setup


def test_setup_is_idempotent_on_the_dev_server(server: Server) -> None:
    r = cli(server, "setup")
    assert r.returncode == 0, r
    assert "already registered" in r.stdout, r
    assert r.stderr.strip() == "", r


# --------------------------------------------------------------------------- 7. kill, resume, metrics


def test_kill_pauses_and_rolls_back_then_only_the_stop_go_owner_resumes(server: Server) -> None:
    _, refunded = start_refund(server, 1005)
    wait_pending_tool(server, refunded, "issue_refund")
    assert cli(server, "approve", refunded, "--as", "raj@example.com", retry=False).ok
    wait_pending_tool(server, refunded, "notify_customer")
    assert [row[-1] for row in shop_refunds(server, 1005)] == ["issued"]

    line = one_line_error(cli(server, "kill", "refund-agent", "--as", "raj@example.com", "--reason", "x"))
    assert "raj@example.com is not the stop/go owner" in line and "sam@example.com" in line, line

    r = cli(
        server,
        "kill",
        "refund-agent",
        "--rollback",
        "--as",
        "sam@example.com",
        "--reason",
        "incident",
        retry=False,
    )
    assert r.ok, r
    assert "paused" in r.stdout and refunded in r.stdout, r
    status = wait_status(server, refunded, "rolled back", lambda s: s["state"] == "rolled_back")
    assert status["killed"]["by"] == "sam@example.com"
    assert [row[-1] for row in shop_refunds(server, 1005)] == ["reversed"]

    line = one_line_error(
        cli(
            server,
            "start",
            "refund-agent",
            "--input",
            '{"order_id": 1006}',
            "--requested-by",
            "bob@example.com",
        )
    )
    assert "refund-agent is paused by sam@example.com" in line and "mandate resume" in line, line
    line = one_line_error(cli(server, "resume", "refund-agent", "--as", "qi@example.com", "--reason", "ok"))
    assert "not the stop/go owner" in line, line
    r = cli(server, "resume", "refund-agent", "--as", "sam@example.com", "--reason", "fixed", retry=False)
    assert r.ok and "resumed" in r.stdout, r

    metrics = cli(server, "metrics", "--agent", "refund-agent", "--window", "1h", "--json")
    assert metrics.ok, metrics
    data = metrics.json()
    for key in (
        "throughput_per_hour",
        "rework_rate",
        "exception_rate",
        "escalation_rate",
        "cost_per_completed",
    ):
        assert isinstance(data[key], int | float), key
    assert data["runs"] >= 4 and data["exception_runs"] >= 1  # the killed run counts as an exception
    table = cli(server, "metrics", columns=200)
    assert table.ok and "refund-agent" in table.stdout, table
    line = one_line_error(cli(server, "metrics", "--window", "soon"))
    assert "--window" in line, line


# --------------------------------------------------------------------------- 8. incident review from the server


def test_replay_a_run_by_id_and_every_closed_run_of_the_agent(server: Server, tmp_path: Path) -> None:
    _, workflow_id = start_refund(server, 1008)
    wait_pending_tool(server, workflow_id, "issue_refund")
    assert cli(server, "reject", workflow_id, "--as", "sam@example.com", "--reason", "dup", retry=False).ok
    wait_status(server, workflow_id, "completed", lambda s: s["state"] == "completed")

    report = tmp_path / "incident.md"
    r = cli(server, "replay", workflow_id, "--report", str(report))
    assert r.ok and "replays cleanly" in r.stderr, r
    text = report.read_text()
    assert f"# Incident report: {workflow_id}" in text
    assert "| r1 | issue_refund |" in text and "sam@example.com" in text and "mandate-cli:" in text

    r = cli(server, "replay", "--agent", "refund-agent", "--since", "1h")
    assert r.ok, r
    match = re.search(r"refund-agent: (\d+) of (\d+) run\(s\)", r.stdout)
    assert match and match.group(1) == match.group(2) and int(match.group(2)) >= 3, r
    r = cli(server, "replay", "--agent", "refund-agent", "--since", "1h", "--json")
    assert r.ok, r
    assert r.json()["replayed"] == r.json()["clean"] == int(match.group(2)) and r.json()["failures"] == [], r
    r = cli(server, "replay", workflow_id, "--json")
    assert r.ok and "replays cleanly" in r.stderr, r
    assert (r.json()["workflow_id"], r.json()["replays_cleanly"], r.json()["failure"]) == (workflow_id, True, None)

    line = one_line_error(cli(server, "replay", "no-such-workflow"))
    assert "no workflow with id 'no-such-workflow'" in line, line


# --------------------------------------------------------------------------- 9. Temporal's word on a closed run


def test_status_follows_temporal_when_it_terminates_a_run(server: Server) -> None:
    _, workflow_id = start_refund(server, 1009)
    wait_pending_tool(server, workflow_id, "issue_refund")
    done = temporal(server, "workflow", "terminate", "--workflow-id", workflow_id, "--reason", "operator")
    assert done.returncode == 0, done.stderr

    status = status_json(server, workflow_id)  # the worker still answers for a closed run
    assert status["answered"] is True
    assert (status["state"], status["temporal_status"]) == ("terminated", "terminated"), status
    assert status["reported_state"] == "waiting_approval"
    assert status["pending"] == [] and status["closed_at"], status

    text = cli(server, "status", workflow_id)
    assert text.ok, text
    first = text.stdout.splitlines()[0]
    assert first.endswith("state terminated"), text.stdout
    words = " ".join(text.stdout.split())
    assert "Temporal terminated it at" in words and "the run had reached waiting_approval" in words, text.stdout
    assert "pending approvals" not in text.stdout, text.stdout

    listed = cli(server, "pending", "--json")
    assert listed.ok and all(i["workflow_id"] != workflow_id for i in listed.json()), listed
    line = one_line_error(cli(server, "approve", workflow_id, "--as", "raj@example.com"))
    assert f"{workflow_id} is terminated" in line, line


def test_status_without_a_worker_says_what_temporal_says(server: Server) -> None:
    workflow_id = f"unserved-{os.getpid()}-{time.monotonic_ns()}"
    queue = f"nobody-{workflow_id}"
    started = temporal(
        server,
        "workflow",
        "start",
        "--workflow-id",
        workflow_id,
        "--task-queue",
        queue,
        "--type",
        "RefundAgent",
        "--input",
        '{"input": {"order_id": 1012}, "requested_by": "bob@example.com"}',
    )
    assert started.returncode == 0, started.stderr

    running = cli(server, "status", workflow_id)
    assert running.ok, running
    assert running.stdout.splitlines()[0].endswith("state running"), running.stdout
    # Answered from describe and the task queue's pollers, not after a status query that timed out: the
    # two say different things (mandate.api.runs.get_status), so no clock is needed to tell them apart.
    said = " ".join(running.stdout.split())
    assert f"no worker polls task queue '{queue}'" in said, running.stdout
    assert "did not answer" not in said and "within" not in said, running.stdout

    assert temporal(server, "workflow", "terminate", "--workflow-id", workflow_id).returncode == 0
    closed = cli(server, "status", workflow_id, "--json")
    assert closed.ok, closed
    data = closed.json()
    assert (data["answered"], data["state"], data["temporal_status"]) == (False, "terminated", "terminated"), data
    assert data["task_queue"] == queue and data["closed_at"], data
    text = cli(server, "status", workflow_id)
    assert text.ok and text.stdout.splitlines()[0].endswith("state terminated"), text


# --------------------------------------------------------------------------- 10. what people typed stays text


def test_names_and_reasons_print_as_typed_never_as_markup(server: Server) -> None:
    _, workflow_id = start_refund(server, 1011, requested_by="[/oops]")
    wait_pending_tool(server, workflow_id, "issue_refund")
    for command in (("pending",), ("status", workflow_id)):
        shown = cli(server, *command)
        assert shown.ok, shown
        assert "requested by [/oops]" in " ".join(shown.stdout.split()), shown
    reason = "[bold]no[/bold] [red]refund"
    r = cli(server, "reject", workflow_id, "--as", "sam@example.com", "--reason", reason, retry=False)
    assert r.ok, r
    wait_status(server, workflow_id, "completed", lambda s: s["state"] == "completed")
    shown = cli(server, "status", workflow_id)
    assert shown.ok, shown
    assert reason in shown.stdout, shown.stdout


# --------------------------------------------------------------------------- 11. mandate dev's ports, help, usage


def test_dev_refuses_a_taken_port_before_announcing_anything(server: Server) -> None:
    # The gRPC port of the module's own server: `mandate dev` must not serve a worker on someone else's server.
    r = cli(server, "dev", "--port", str(server.port), "--ui-port", str(_free_port()), address=None, timeout=30)
    line = one_line_error(r)
    assert f"port {server.port} is already in use" in line and "--port" in line, line
    assert r.stdout == "", r

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ui_port = held.getsockname()[1]
        r = cli(server, "dev", "--port", str(_free_port()), "--ui-port", str(ui_port), address=None, timeout=30)
    line = one_line_error(r)
    assert f"Web UI port {ui_port} is already in use" in line and "--ui-port" in line, line
    assert r.stdout == "", r


def test_help_shows_flags_as_flags_and_every_listing_takes_json(server: Server) -> None:
    helped = cli(server, "dev", "--help", address=None, columns=80)
    assert helped.ok, helped
    flag = next(line for line in helped.stdout.splitlines() if "--allow-unready" in line)
    assert re.match(r"^\s+--allow-unready\s+serve agents", flag), flag
    assert "<bool>" not in helped.stdout, helped.stdout
    assert "[default: $MANDATE_HOME/temporal.db]" in helped.stdout, helped.stdout  # brackets kept, not markup

    listed = cli(server, "--help", address=None)
    commands = re.findall(r"^  ([a-z]+)\s", listed.stdout.split("Commands:")[1], flags=re.M)
    readme = ["dev", "worker", "setup", "start", "status", "pending", "approve", "reject", "kill", "resume"]
    assert commands[: len(readme)] == readme, listed.stdout
    assert {"metrics", "audit", "replay", "demo", "init"} <= set(commands), listed.stdout
    for command in ("status", "pending", "metrics", "audit", "kill", "resume", "replay"):
        shown = cli(server, command, "--help", address=None)
        assert shown.ok and re.search(r"^\s+--json\s", shown.stdout, flags=re.M), shown


def test_usage_errors_are_one_line_with_exit_1(server: Server) -> None:
    line = one_line_error(cli(server, "approve", "some-run"))
    assert "missing option '--as'" in line and "mandate approve --help" in line, line
    line = one_line_error(cli(server, "aprove", "some-run", "--as", "raj@example.com"))
    assert "no such command 'aprove'" in line and "approve" in line, line
    line = one_line_error(cli(server, "approve", "some-run", "--as", "raj@example.com", "--timeout", "soon"))
    assert "--timeout" in line, line
    bare = cli(server, address=None)
    assert bare.ok and bare.stdout.startswith("Usage: mandate"), bare


# --------------------------------------------------------------------------- the exit crash


def test_commands_exit_without_crashing(server: Server) -> None:
    """Every CLI call in this module, plus up to 40 cheap ones, exits with its own status.

    The crash is a race at interpreter exit; it shows far more often when the CPUs are busy,
    so the extra calls run a few at a time and stop at the first crash.
    """
    workers = max(2, os.cpu_count() or 2)
    deadline = time.monotonic() + 45
    calls = 0
    with ThreadPoolExecutor(workers) as pool:
        while not EXIT_CRASHES and calls < 40 and time.monotonic() < deadline:
            batch = [("status", "no-such-workflow"), ("pending", "--json")] * workers
            list(pool.map(lambda args: cli(server, *args, retry=False), batch))
            calls += len(batch)
    assert not EXIT_CRASHES, (
        f"{len(EXIT_CRASHES)} exit crash(es) after {calls} extra calls; first: {EXIT_CRASHES[0]}"
    )
