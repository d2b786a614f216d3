"""The wheel a user installs: built from this checkout, installed non-editable into a fresh virtual
environment outside it, and run from an empty directory, as the Dockerfile and a `pip install mandate`
would. An editable install hides a package left out of the wheel; this does not.

Slow (a wheel build and a venv, about 20 s with a warm pip cache), so marked `slow`; it runs by default.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HISTORY = REPO / "tests" / "histories" / "refund-approved.json"
LAYERS = ("workflows", "activities", "worker", "approvals")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}:/usr/bin:/bin", "MANDATE_HOME": str(self.workdir / ".mandate"), "HOME": str(self.workdir)}

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd or self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("mandate-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    workdir = root / "empty"
    workdir.mkdir()
    yield Installed(wheel=wheel, bin=venv / "bin", workdir=workdir)


def test_the_wheel_installs_one_import_root_holding_every_module(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        roots = wheel.read(top_level).decode().split()
    assert roots == ["mandate"], f"the wheel installs import roots {roots}"
    expected = {f"mandate/{p.relative_to(REPO / 'mandate').as_posix()}" for p in (REPO / "mandate").glob("*.py")}
    for layer in (*LAYERS, "cli", "review"):
        folder = REPO / layer if layer in LAYERS else REPO / "mandate" / layer
        expected |= {f"mandate/{layer}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*.py")}
    expected |= {f"mandate/charters/{p.name}" for p in (REPO / "charters").glob("*.toml")}
    missing = sorted(expected - names)
    assert not missing, f"the wheel leaves out {missing}"


def test_no_generic_top_level_name_is_importable_from_the_install(installed: Installed) -> None:
    probe = f"import importlib.util as u; print([n for n in {LAYERS!r} if u.find_spec(n)])"
    done = installed.run("python", "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    ok = installed.run("python", "-c", "import mandate.workflows.governed, mandate.worker, mandate.review; print('ok')")
    assert ok.stdout.strip() == "ok", ok.stderr


def test_commands_run_from_the_wheel_outside_the_checkout(installed: Installed) -> None:
    helped = installed.run("mandate", "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("dev", "worker", "start", "approve", "audit", "replay", "demo", "init"):
        assert command in helped.stdout, f"`mandate --help` does not list {command}"

    audited = installed.run("mandate", "audit")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "refund-agent" in audited.stdout and "ready" in audited.stdout
    assert "site-packages/mandate/charters/refund-agent.toml" in audited.stdout, (
        "with no charters folder of its own, the audit reads the charter the package ships"
    )

    replayed = installed.run("mandate", "replay", "--history", str(HISTORY))
    assert replayed.returncode == 0, replayed.stderr
    assert "replays cleanly" in replayed.stderr
    assert "# Incident report: refund-approved" in replayed.stdout


def test_an_unknown_app_is_one_line_naming_it(installed: Installed) -> None:
    done = installed.run("mandate", "audit", "--app", "no_such_agents")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: --app no_such_agents: cannot import no_such_agents: ModuleNotFoundError: No module named 'no_such_agents'"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(probe: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.3)


def test_the_wheel_serves_an_agent_package_installed_beside_it(installed: Installed) -> None:
    """`mandate init` → `pip install` the project (non-editable) → `mandate dev` from the wheel serves it
    through its entry point alone: audited, started, approved, replayed, with no file of Mandate touched."""
    made = installed.run("mandate", "init", "deploy-agent")
    assert made.returncode == 0, made.stderr
    project = installed.workdir / "deploy-agent"
    pip = installed.run("pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check", str(project), timeout=300)
    assert pip.returncode == 0, pip.stderr

    audited = installed.run("mandate", "audit", cwd=project)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    lines = audited.stdout.splitlines()
    head = next(n for n, line in enumerate(lines) if line.startswith("deploy-agent"))
    shown = " ".join(lines[head : head + 2])  # at 80 columns a long heading puts the path on its own line
    assert "site-packages/deploy_agent/charters/deploy-agent.toml" in shown, audited.stdout
    assert lines[head].endswith(": ready"), audited.stdout

    log = installed.workdir / "dev.log"
    # A port taken between _free_port() and the server's bind (another test on this machine) is picked
    # again, twice at most, as tests/reliability/_harness.py does.
    for attempt in range(3):
        port, ui_port = _free_port(), _free_port()
        with open(log, "wb") as out:
            dev = subprocess.Popen(
                [str(installed.bin / "mandate"), "dev", "--port", str(port), "--ui-port", str(ui_port), "--db", str(installed.workdir / "t.db")],
                cwd=project,
                env=installed.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _until(lambda proc=dev: "serving: deploy-agent" in log.read_text() or proc.poll() is not None, "mandate dev")
        if dev.poll() is None or "already in use" not in log.read_text() or attempt == 2:
            break
    address = ["--address", f"127.0.0.1:{port}"]
    try:
        assert dev.poll() is None, log.read_text()
        started = installed.run(
            "mandate", "start", "deploy-agent", "--input", '{"service": "checkout", "version": "1.4.2"}',
            "--requested-by", "dev@example.com", *address, cwd=project,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        workflow_id = started.stdout.strip().splitlines()[-1]

        def pending() -> bool:
            listed = installed.run("mandate", "pending", "--json", *address, cwd=project)
            return any(p["tool"] == "deploy" for p in json.loads(listed.stdout or "[]"))

        _until(pending, "the deploy to wait for approval")
        approved = installed.run(
            "mandate", "approve", workflow_id, "--as", "release-manager@example.com", "--reason", "notes read",
            *address, cwd=project,
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr

        def completed() -> bool:
            shown = installed.run("mandate", "status", workflow_id, "--json", *address, cwd=project)
            return shown.returncode == 0 and json.loads(shown.stdout)["state"] == "completed"

        _until(completed, "the run to complete")
        replayed = installed.run("mandate", "replay", workflow_id, *address, cwd=project)
        assert replayed.returncode == 0, replayed.stderr
        assert "replays cleanly" in replayed.stderr
        assert "deploy" in replayed.stdout and "release-manager@example.com" in replayed.stdout
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=10)


def test_the_demo_runs_from_the_wheel_alone(installed: Installed) -> None:
    folder = installed.workdir / "demo"
    folder.mkdir()
    for _attempt in range(3):  # a port lost before the demo's server binds it is picked again
        done = installed.run(
            "mandate", "demo", "--exit", "--port", str(_free_port()), "--ui-port", str(_free_port()), cwd=folder, timeout=240
        )
        if done.returncode == 0 or "already in use" not in done.stderr + done.stdout:
            break
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "refund" in done.stdout and "blocked" in done.stdout, done.stdout[-2000:]
