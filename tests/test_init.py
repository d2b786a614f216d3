"""`mandate init`: a new agent project, outside Mandate, that passes the audit and its own test at once,
and runs end to end through the `mandate` CLI (worker, start, approve, status, replay) on a real server.

Nothing is installed: the project is used from its own folder with `--app`, as its README says to do
before `pip install -e .`. About 15 seconds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import one_line_error

BIN = Path(sys.executable).parent
MANDATE = str(BIN / "mandate")
TEMPORAL = str(BIN / "temporal")
APP = "deploy_agent.app"
FILES = [
    ".gitignore",
    "README.md",
    "deploy_agent/__init__.py",
    "deploy_agent/app.py",
    "deploy_agent/charters/deploy-agent.toml",
    "deploy_agent/planner.py",
    "deploy_agent/tools.py",
    "deploy_agent/workflow.py",
    "pyproject.toml",
    "tests/test_deploy_agent.py",
]


def clean_env(home: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MANDATE_", "PYTEST_"))}
    env.pop("COLUMNS", None)
    return {**env, "MANDATE_HOME": str(home), **more}


def run(cwd: Path, *args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Project:
    root: Path
    created: subprocess.CompletedProcess[str]
    env: dict[str, str]

    def mandate(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run(self.root, MANDATE, *args, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    where = tmp_path_factory.mktemp("init")
    env = clean_env(where / "home", MANDATE_TASK_QUEUE=f"init-{uuid.uuid4().hex[:8]}")
    created = run(where, MANDATE, "init", "deploy-agent", env=env)
    return Project(root=where / "deploy-agent", created=created, env=env)


def test_init_writes_a_project_in_its_own_package(project: Project) -> None:
    assert project.created.returncode == 0, project.created.stderr
    assert project.created.stderr == ""
    written = sorted(p.relative_to(project.root).as_posix() for p in project.root.rglob("*") if p.is_file())
    assert written == FILES
    out = project.created.stdout
    assert "created deploy-agent in deploy-agent/: package deploy_agent, workflow DeployAgent" in out, out
    assert "get_service_version (read), deploy (write, needs approval, undone by rollback_deploy)" in out, out

    pyproject = (project.root / "pyproject.toml").read_text()
    assert '[project.entry-points."mandate.agents"]\ndeploy-agent = "deploy_agent.app:app"' in pyproject
    workflow = (project.root / "deploy_agent" / "workflow.py").read_text()
    passed_through = workflow.split("with workflow.unsafe.imports_passed_through():")[1].split("\n\n\n")[0]
    assert "from deploy_agent import tools" in passed_through, workflow
    tools = (project.root / "deploy_agent" / "tools.py").read_text()
    assert "from mandate import Authority, current_tool_context, tool" in tools
    assert '@tool(authority=Authority.WRITE, cost=0.01, compensates="deploy", timeout="2m")' in tools
    assert "current_tool_context().idempotency_key" in tools
    assert "{{" not in "".join(p.read_text() for p in project.root.rglob("*") if p.is_file())


def test_the_project_passes_the_audit_as_it_is(project: Project) -> None:
    audited = project.mandate("audit", "--app", APP)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    # At 80 columns (a pipe) a long heading puts the charter's path on a line of its own, and a detail wraps.
    agent = audited.stdout[audited.stdout.index("deploy-agent"):].split("\nrefund-agent")[0]
    words = " ".join(agent.split())
    assert words.startswith("deploy-agent") and "deploy_agent/charters/deploy-agent.toml" in words, agent
    assert "ready" in agent.splitlines()[0], agent
    checks = [line.split()[:2] for line in agent.splitlines() if line.split()[0] in ("ok", "FAIL")]
    assert checks == [
        ["ok", "authority"],
        ["ok", "owners"],
        ["ok", "tool_pattern"],
        ["ok", "outcomes"],
        ["ok", "rollback"],
    ], audited.stdout
    assert "undoable: deploy (by rollback_deploy)" in words, agent

    # $MANDATE_APP finds it as --app does; without either, the project is not Mandate's business.
    by_env = run(project.root, MANDATE, "audit", env={**project.env, "MANDATE_APP": APP})
    assert by_env.returncode == 0 and "\ndeploy-agent" in f"\n{by_env.stdout}", by_env.stdout + by_env.stderr
    alone = project.mandate("audit")
    assert alone.returncode == 0 and "deploy-agent" not in alone.stdout, alone.stdout

    # The audit is real: a charter that loses a threshold fails it, naming the field.
    charter = project.root / "deploy_agent" / "charters" / "deploy-agent.toml"
    broken = project.root.parent / "broken-charters"
    broken.mkdir(exist_ok=True)
    (broken / "deploy-agent.toml").write_text(charter.read_text().replace("max_rework_rate = 0.25\n", ""))
    failed = project.mandate("audit", "--app", APP, "--charters", str(broken))
    assert failed.returncode == 1 and "kill_criteria.max_rework_rate" in failed.stdout, failed.stdout


def test_the_projects_own_test_and_lint_pass(project: Project) -> None:
    tested = run(
        project.root,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        env=clean_env(project.root / ".mandate"),
        timeout=180,
    )
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert "2 passed" in tested.stdout, tested.stdout
    linted = run(project.root, str(BIN / "ruff"), "check", ".", env=clean_env(project.root / ".mandate"))
    assert linted.returncode == 0, linted.stdout


def test_init_refuses_a_bad_name_or_a_used_folder_in_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home")
    line = one_line_error(run(tmp_path, MANDATE, "init", "Deploy_Agent", env=env))
    assert "'Deploy_Agent' is not a valid agent name" in line, line
    line = one_line_error(run(tmp_path, MANDATE, "init", "mandate", env=env))
    assert "a module named mandate is already importable" in line, line
    line = one_line_error(run(tmp_path, MANDATE, "init", "refund-agent", env=env))
    assert "already defines agent 'refund-agent'" in line, line
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    line = one_line_error(run(tmp_path, MANDATE, "init", "billing-agent", "--dir", str(used), env=env))
    assert f"{used} exists and is not empty" in line, line
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]  # nothing written
    empty = tmp_path / "empty"
    empty.mkdir()
    made = run(tmp_path, MANDATE, "init", "billing-agent", "--dir", str(empty), env=env)
    assert made.returncode == 0, made.stderr
    assert (empty / "billing_agent" / "charters" / "billing-agent.toml").is_file()


# --------------------------------------------------------------------------- end to end through the CLI


@pytest.fixture
def worker(project: Project, env: WorkflowEnvironment) -> Iterator[str]:
    """`mandate worker --app deploy_agent.app` against the session's dev server; yields its address."""
    address = env.client.service_client.config.target_host
    log = project.root.parent / "worker.log"
    charters = str(project.root / "deploy_agent" / "charters")  # this agent only: no refund-agent monitor here
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [MANDATE, "worker", "--app", APP, "--charters", charters, "--address", address],
            cwd=project.root,
            env=project.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "serving: deploy-agent" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield address
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        run(project.root, TEMPORAL, "workflow", "terminate", "--workflow-id", "mandate-monitor-deploy-agent",
            "--address", address, env=project.env)  # fmt: skip


def wait_status(project: Project, address: str, workflow_id: str, check: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        shown = project.mandate("status", workflow_id, "--json", "--address", address)
        assert shown.returncode == 0, shown.stderr
        status = json.loads(shown.stdout)
        if check(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.25)


def test_worker_start_approve_replay_through_the_cli(project: Project, worker: str) -> None:
    address = ["--address", worker]
    # No `mandate dev` here (so no demo keys): the requester and the approver make their signing keys,
    # which go into the keys file in use ($MANDATE_HOME/keys.toml); the worker reads it again when it changes.
    for person in ("dev@example.com", "release-manager@example.com"):
        made = project.mandate("keys", "new", "--as", person)
        assert made.returncode == 0, made.stderr
    started = project.mandate(
        "start", "deploy-agent", "--input", '{"service": "checkout", "version": "1.4.2"}',
        "--requested-by", "dev@example.com", "--app", APP, *address,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.strip()
    assert workflow_id.startswith("deploy-agent-"), started.stdout

    waiting = wait_status(project, worker, workflow_id, lambda s: s["pending"])
    request = waiting["pending"][0]
    assert (request["tool"], request["args"]) == ("deploy", {"service": "checkout", "version": "1.4.2"})
    assert request["approvers"] == ["release-manager@example.com", "oncall@example.com"]

    line = one_line_error(project.mandate("approve", workflow_id, "--as", "dev@example.com", *address))
    assert "cannot approve" in line, line
    approved = project.mandate("approve", workflow_id, "--as", "release-manager@example.com", *address)
    assert approved.returncode == 0, approved.stderr
    assert f"approved r1 of {workflow_id} as release-manager@example.com" in approved.stdout

    done = wait_status(project, worker, workflow_id, lambda s: s["state"] != "waiting_approval")
    assert (done["state"], done["outcome"]) == ("completed", "deployed"), done
    assert done["summary"] == "checkout: nothing -> 1.4.2 (deploy 1)"
    with sqlite3.connect(Path(project.env["MANDATE_HOME"]) / "deploy-agent.db") as db:
        assert db.execute("SELECT version FROM services WHERE name = 'checkout'").fetchall() == [("1.4.2",)]
    shown = project.mandate("status", workflow_id, *address)
    assert "step 2  deploy  undoable by rollback_deploy" in shown.stdout, shown.stdout

    replayed = project.mandate("replay", workflow_id, "--app", APP, *address)
    assert replayed.returncode == 0, replayed.stderr
    assert f"replay: {workflow_id} replays cleanly against today's code" in replayed.stderr
    assert f"# Incident report: {workflow_id}" in replayed.stdout
