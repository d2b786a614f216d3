"""Running a document's shell blocks as a reader would: each command a real subprocess, in a fresh folder.

``blocks(markdown, heading)`` takes the fenced blocks of one section of a Markdown file; a ``Reader``
runs their commands one by one (``bash -c``), in a temporary folder, with this checkout's virtual
environment first on ``PATH``, and no ``TEMPORAL_*`` or ``MANDATE_*`` variable but what the commands
themselves set. Where a reader's machine and a test's differ, the reader does what a reader would, and
nothing else is changed:

- creating a virtual environment and ``pip install`` are skipped: the venv running the tests already has
  Mandate installed (editable, from this checkout). ``pip install -e .`` in an agent project is replaced by
  what the README gives as its equivalent before installing, ``MANDATE_APP`` naming the project's entry point;
- ``.venv/bin/X`` is this venv's ``X``;
- ``mandate dev`` and ``mandate demo`` run for real, on free ports instead of 7233/8233 (other servers may
  hold those on a shared machine): ``mandate dev`` in the background until the next ``mandate dev`` or the
  end, the demo in the foreground with its stdin not a terminal, so it ends once its story is told. The
  commands after a ``mandate dev`` reach it through the ``export TEMPORAL_ADDRESS=…`` line it prints;
- ``NAME=$(command)`` keeps the command's output as ``$NAME`` for the lines after it;
- ``mandate approve`` / ``reject`` wait, as a person would, until ``mandate pending`` lists the request.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)$")
DEV_READY = "Ctrl-C to stop."


def section(markdown: str, heading: str) -> str:
    """The text under ``heading`` (a line ``## heading``), up to the next heading of its level or above."""
    found = re.search(rf"^(#+) {re.escape(heading)}\s*$", markdown, re.M)
    assert found, f"no heading {heading!r}"
    level = len(found.group(1))
    rest = markdown[found.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def blocks(markdown: str, heading: str, *langs: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) of one section, in order; only ``langs`` when given."""
    found = [(m.group(1), m.group(2)) for m in FENCE.finditer(section(markdown, heading))]
    return [(lang, text) for lang, text in found if not langs or lang in langs]


def commands(block: str) -> list[str]:
    """A shell block's commands: one a line (a ``\\`` joins the next), blank and comment-only lines left out."""
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ran:
    command: str
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"$ {self.command}\n-> exit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-3000:]}"


@dataclass
class Reader:
    """One reader's terminal(s): a folder, an environment, and the ``mandate dev`` they started."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 180
    ran: list[Ran] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dev: subprocess.Popen[bytes] | None = None
    dev_log: Path | None = None

    def __post_init__(self) -> None:
        if not self.env:
            self.env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("TEMPORAL_", "MANDATE_", "PYTEST_", "OPENAI_", "ANTHROPIC_"))
                and k not in ("COLUMNS", "LINES", "VIRTUAL_ENV")
            }
            self.env["PATH"] = f"{BIN}:{self.env.get('PATH', '/usr/bin:/bin')}"
            self.env["PYTHONUNBUFFERED"] = "1"

    # ---- running

    def block(self, text: str) -> list[Ran]:
        return [r for line in commands(text) for r in self.line(line)]

    def line(self, line: str) -> list[Ran]:
        done = []
        for part in (p.strip() for p in line.split(" && ")):
            ran = self._one(part)
            if ran is not None:
                done.append(ran)
        return done

    def _one(self, command: str) -> Ran | None:
        command = re.sub(r"(^|\s)\.venv/bin/", rf"\g<1>{BIN}/", command)
        words = shlex.split(command, comments=True)
        if not words:
            return None
        head = [w for w in words if not re.match(r"^[A-Za-z_]\w*=", w)]  # past leading VAR=value
        program = Path(head[0]).name if head else ""
        if program in ("python3", "python") and head[1:3] == ["-m", "venv"]:
            self.skipped.append(command)
            return None
        if program == "pip" or (program in ("python", "python3") and head[1:3] == ["-m", "pip"]):
            return self._pip(command, head)
        if words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
            return None
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            self.env[name] = value
            return None
        if program == "mandate" and len(head) > 1 and head[1] == "dev":
            return self._dev(shlex.join(words))  # its comment left out, so the ports go on the command
        if program == "mandate" and len(head) > 1 and head[1] == "demo":
            ports = f"--port {free_port()} --ui-port {free_port()}"
            return self._run(f"{shlex.join(words)} {ports}", stdin=subprocess.DEVNULL)
        assigned = ASSIGN.match(command)
        if assigned:
            ran = self._run(assigned.group(2))
            self.env[assigned.group(1)] = ran.stdout.strip()
            return ran
        if program == "mandate" and len(head) > 1 and head[1] in ("approve", "reject"):
            self.wait_pending()
        return self._run(command)

    def _run(self, command: str, *, stdin: int | None = subprocess.DEVNULL, check: bool = True) -> Ran:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            stdin=stdin,
        )
        ran = Ran(command, done.returncode, done.stdout, done.stderr)
        self.ran.append(ran)
        assert not check or ran.returncode == 0, ran
        return ran

    def _pip(self, command: str, words: list[str]) -> None:
        """Skipped: Mandate is installed already. An agent project's editable install becomes MANDATE_APP."""
        self.skipped.append(command)
        pyproject = self.cwd / "pyproject.toml"
        if "-e" in words and pyproject.is_file():
            points = tomllib.loads(pyproject.read_text()).get("project", {}).get("entry-points", {})
            agents = points.get("mandate.agents", {})
            if agents:
                self.env["MANDATE_APP"] = ",".join(agents.values())
        return None

    def _dev(self, command: str) -> Ran:
        """`mandate dev` in the background on free ports; later commands reach it by the address it prints."""
        self.stop_dev()
        log = self.cwd / f".dev-{len(self.ran)}.log"
        for attempt in range(3):  # a port lost to another process before the server binds it: others
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    ["bash", "-c", f"exec {command} --port {free_port()} --ui-port {free_port()}"],
                    cwd=self.cwd,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.dev, self.dev_log = proc, log
            deadline = time.monotonic() + 90
            while DEV_READY not in log.read_text(errors="replace") and proc.poll() is None:
                assert time.monotonic() < deadline, f"`{command}` not ready after 90 s:\n{log.read_text()}"
                time.sleep(0.2)
            said = log.read_text(errors="replace")
            if proc.poll() is None or "already in use" not in said or attempt == 2:
                break
        assert proc.poll() is None, f"`{command}` exited with {proc.returncode}:\n{said}"
        printed = re.findall(r"export TEMPORAL_ADDRESS=(\S+)", said)
        assert printed, f"`{command}` on another port did not say how to reach it:\n{said}"
        self.env["TEMPORAL_ADDRESS"] = printed[-1]
        ran = Ran(command, 0, said, "")
        self.ran.append(ran)
        return ran

    def stop_dev(self) -> str:
        """Ctrl-C to the running `mandate dev`, as its banner says; what it printed."""
        proc, log = self.dev, self.dev_log
        if proc is None or log is None:
            return ""
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind
        self.dev = None
        return log.read_text(errors="replace")

    # ---- waiting as a person would

    def wait_pending(self, timeout: float = 60) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while True:
            listed = self._run("mandate pending --json", check=False)
            self.ran.pop()
            items = json.loads(listed.stdout) if listed.returncode == 0 and listed.stdout.strip() else []
            if items:
                return items
            assert time.monotonic() < deadline, f"nothing pending after {timeout:.0f} s: {listed}"
            time.sleep(0.3)

    def status(self, workflow_id: str, until: str = "completed", timeout: float = 60) -> dict[str, object]:
        """``mandate status ID --json`` once the run's state is ``until`` (or it ended otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self._run(f"mandate status {shlex.quote(workflow_id)} --json")
            self.ran.pop()
            status: dict[str, object] = json.loads(shown.stdout)
            if status["state"] == until or status["state"] in ("failed", "terminated", "killed"):
                return status
            assert time.monotonic() < deadline, f"{workflow_id} not {until} after {timeout:.0f} s: {status}"
            time.sleep(0.3)
