"""`mandate audit` and the worker's readiness gate, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
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


def test_shipped_charters_are_ready():
    result = mandate("audit", "--charters", str(SHIPPED.parent))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    headings = [n for n, line in enumerate(lines) if not line.startswith(" ")]
    assert [lines[n].split()[0] for n in headings] == ["refund-agent", "support-agent"]
    assert all(lines[n].endswith("ready") for n in headings)
    five = ["authority", "owners", "tool_pattern", "outcomes", "rollback"]
    assert [line.split()[1] for line in lines[1 : headings[1]]] == five
    assert [line.split()[1] for line in lines[headings[1] + 1 :]] == [*five, "model"]  # model-backed: a sixth
    assert all(lines[n].split()[0] == "ok" for n in range(len(lines)) if n not in headings)


def test_audit_fails_naming_the_file_and_the_missing_field(tmp_path: Path):
    result = mandate("audit", "--charters", str(without_threshold(tmp_path)))
    assert result.returncode == 1
    assert "NOT READY" in result.stdout
    failing = [line for line in result.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert len(failing) == 1 and "outcomes" in failing[0] and "kill_criteria.max_rework_rate" in failing[0]


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
