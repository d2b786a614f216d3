"""`mandate demo --exit`, run twice as a user would, in an empty directory: what it says, and in what order.

Each run starts its own dev server (on free ports, its SQLite file under a fresh MANDATE_HOME) and the
agents' worker, and tells both acts (the refund agent; the support agent's scripted model); a few seconds
a run.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import one_line_error

MANDATE = str(Path(sys.executable).parent / "mandate")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MANDATE_", "COLUMNS"))}
    env = {k: v for k, v in env.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}  # act two: scripted
    env["MANDATE_HOME"] = str(home)
    ports = ["--port", str(_free_port()), "--ui-port", str(_free_port())]
    return subprocess.run(
        [MANDATE, "demo", "--exit", *ports, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def issued(home: Path) -> list[int]:
    with sqlite3.connect(home / "shop.db") as db:
        return [r[0] for r in db.execute("SELECT order_id FROM refunds WHERE status = 'issued' ORDER BY id")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    cwd = tmp_path_factory.mktemp("demo")
    home = cwd / ".mandate"
    return home, [demo(cwd, home), demo(cwd, home)]


def test_the_story_is_told_in_order_without_the_servers_banner(
    runs: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    _, (first, _) = runs
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stderr == "", first.stderr
    out = first.stdout
    # The Temporal CLI's own banner ("Temporal Server: localhost:..., Temporal UI: ...") never interrupts
    # the story: the server's output goes to its log file, and the demo says where things are first.
    assert "Temporal Server:" not in out and "Temporal CLI" not in out, out
    lines = out.splitlines()
    said = [n for n, line in enumerate(lines) if line.startswith("▶")]
    assert "Web UI on http://localhost:" in lines[said[0] + 1], out
    assert "dev-server.log" in lines[said[0] + 1], out

    blocked = next(n for n, line in enumerate(lines) if "blocked by the charter:" in line)
    assert re.match(r"^  step \d+: delete_customer \{\"customer_id\": \d+\}$", lines[blocked + 1]), out
    assert "never ran; recorded as a policy violation" in lines[blocked + 2], out

    # A completed, undoable refund says so; nothing reads "pending" beside it.
    writes = lines[lines.index("completed writes") + 1 : lines.index("completed writes") + 3]
    assert re.match(r"^  step 3\s+issue_refund\s+undoable by reverse_refund$", writes[0]), writes
    assert "notify_customer" in writes[1] and "irreversible" in writes[1], writes
    assert not any("pending" in line for line in writes), writes


def test_act_two_the_charter_stops_a_model_talked_into_deleting_an_account(
    runs: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    _, (first, second) = runs
    out = first.stdout
    act = out[out.index("Act two: support-agent") :]
    assert "the model is scripted:support: a SCRIPTED pydantic-ai FunctionModel" in act, act  # said, not hidden
    lines = act.splitlines()
    deletion = next(n for n, line in enumerate(lines) if "delete_customer {" in line)
    assert re.match(r"^  step 2: delete_customer \{\"customer_id\": \d+\}  BLOCKED$", lines[deletion]), act
    assert "the model was told it was refused" in lines[deletion + 1], act
    # it carried on: the policy, then a message a person approved, then its own answer
    assert re.search(r"step 3: check_refund_policy .* completed", act), act
    assert "qi@example.com approves it" in act and re.search(r"step 4: notify_customer .* completed", act), act
    assert re.search(r"outcome +answered: Order 1035 handled\.", act), act
    assert "violations 1" in act and "state completed" in act, act
    assert "Act two: support-agent" in second.stdout  # and again: nothing in the shop changed but a notice


def test_the_demo_uses_orders_the_readme_does_not_and_runs_again(
    runs: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    home, (first, second) = runs
    assert second.returncode == 0, second.stdout + second.stderr
    assert "order 1041" in first.stdout and "order 1048" in first.stdout, first.stdout
    assert "order 1043" in second.stdout and "order 1048" in second.stdout, second.stdout
    assert "1001" not in first.stdout + second.stdout  # the README's own example order stays refundable
    assert issued(home) == [1041, 1043]  # approved once each; the rejected 1048 is never refunded


def test_the_demo_refuses_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MANDATE_"))}
        env["MANDATE_HOME"] = str(tmp_path / "home")
        done = subprocess.run(
            [MANDATE, "demo", "--exit", "--port", str(port), "--ui-port", str(_free_port())],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    line = one_line_error(done)
    assert f"port {port} is already in use" in line, line
    assert done.stdout == "", done.stdout
