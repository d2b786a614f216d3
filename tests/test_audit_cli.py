"""`mandate audit` and the worker's readiness gate, as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MANDATE = str(Path(sys.executable).parent / "mandate")
SHIPPED = Path(__file__).resolve().parent.parent / "charters" / "refund-agent.toml"


def mandate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MANDATE, *args], capture_output=True, text=True, timeout=60)


def without_threshold(tmp_path: Path) -> Path:
    folder = tmp_path / "charters"
    folder.mkdir()
    text = SHIPPED.read_text().replace("max_rework_rate = 0.25\n", "")
    (folder / "refund-agent.toml").write_text(text)
    return folder


def checks_of(stdout: str) -> list[list[str]]:
    """Per agent, its checks as ``[verdict, question, detail]``, a detail wrapped over lines joined again."""
    agents: list[list[str]] = []
    for line in stdout.splitlines():
        if not line.startswith(" "):
            agents.append([])
        elif line.split()[0] in ("ok", "FAIL"):
            agents[-1].append(line)
        elif agents[-1]:  # a detail's next line
            agents[-1][-1] += " " + line.strip()
    return [[check.split(None, 2) for check in checks] for checks in agents]  # type: ignore[misc]


def test_shipped_charters_are_ready():
    result = mandate("audit", "--charters", str(SHIPPED.parent))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    headings = [line for line in lines if not line.startswith(" ")]
    assert [line.split()[0].rstrip(":") for line in headings] == ["refund-agent", "support-agent"]
    assert all(line.endswith("ready") for line in headings)
    five = ["authority", "owners", "tool_pattern", "outcomes", "rollback"]
    refund, support = checks_of(result.stdout)
    assert [c[1] for c in refund] == five
    assert [c[1] for c in support] == [*five, "model"]  # model-backed: a sixth
    assert all(c[0] == "ok" for c in refund + support)


def test_audit_fails_naming_the_file_and_the_missing_field(tmp_path: Path):
    result = mandate("audit", "--charters", str(without_threshold(tmp_path)))
    assert result.returncode == 1
    assert "NOT READY" in result.stdout
    failing = [c for checks in checks_of(result.stdout) for c in checks if c[0] == "FAIL"]
    assert len(failing) == 1 and failing[0][1] == "outcomes" and "kill_criteria.max_rework_rate" in failing[0][2]


def test_audit_fits_in_80_columns():
    """As `status`, `pending` and `metrics` do: at 80 columns (and in a pipe, which rich reads as 80) every
    line fits, each detail wrapped under itself, and a heading too long for the line puts the charter's
    path on a line of its own, whole."""
    root = Path(tempfile.mkdtemp(prefix="audit-"))  # short: pytest's tmp_path alone can pass 80 columns
    try:
        folder = root / "charters"
        # A path long enough that "refund-agent (PATH): ready" cannot fit, short enough to fit alone.
        deep = root / ("x" * (70 - len(str(root / "refund-agent.toml"))))
        shutil.copytree(SHIPPED.parent, folder)
        shutil.copytree(SHIPPED.parent, deep)
        for where, columns in ((folder, "80"), (deep, "80"), (folder, None)):
            env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | ({"COLUMNS": columns} if columns else {})
            result = subprocess.run(
                [MANDATE, "audit", "--charters", str(where)], capture_output=True, text=True, timeout=60, env=env
            )
            assert result.returncode == 0, result.stderr
            lines = result.stdout.splitlines()
            assert [line for line in lines if len(line) > 80] == [], result.stdout
            words = " ".join(result.stdout.split())
            assert "5 tool(s), each registered with a policy (allow 2, approve 2, block 1)" in words, result.stdout
            assert "cost per workflow <= 0.5" in words, result.stdout
            if where == deep:
                assert lines[:2] == ["refund-agent: ready", f"  {deep / 'refund-agent.toml'}"], result.stdout
            else:
                assert lines[0] == f"refund-agent ({folder / 'refund-agent.toml'}): ready", result.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_worker_refuses_an_unready_agent_unless_allowed(tmp_path: Path):
    folder = str(without_threshold(tmp_path))
    refused = mandate("worker", "--charters", folder, "--address", "127.0.0.1:1")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert (
        "refund-agent is not ready for production" in refused.stderr and "--allow-unready" in refused.stderr
    )
    # The session's MANDATE_HOME holds a demo keys file (tests/conftest.py), which `mandate worker` refuses
    # unless told: --allow-demo-keys, so that this call gets as far as the connection.
    allowed = mandate(
        "worker", "--charters", folder, "--address", "127.0.0.1:1", "--allow-unready", "--allow-demo-keys"
    )
    assert "warning: serving refund-agent is not ready" in allowed.stderr
    # it got past the gate and failed only because nothing listens on port 1
    assert allowed.returncode == 1 and "cannot reach Temporal at 127.0.0.1:1" in allowed.stderr
