"""`mandate metrics` says what each rate counted: "exceptions 100%" alone read as if every run had failed.

A real run on the session's dev server, served by a worker in this process on a task queue of its own
(the metrics count only the runs on Mandate's queue, here that one, so no other test's runs are in it),
and the installed `mandate metrics` run as a user runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from mandate.charter import Charter
from mandate.keys import ensure_demo_keys
from mandate.worker import build_worker
from tests.conftest import DEMO_PEOPLE
from tests.helpers import eventually, signed_decision, start_refund, wait_pending

REPO = Path(__file__).resolve().parent.parent
MANDATE = str(Path(sys.executable).parent / "mandate")


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shop and demo keys of this test's own (the worker's tools and keys are read from MANDATE_HOME)."""
    monkeypatch.setenv("MANDATE_HOME", str(tmp_path))
    ensure_demo_keys(DEMO_PEOPLE)
    return tmp_path


async def _metrics(address: str, task_queue: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANDATE_", "TEMPORAL_", "COLUMNS"))}
    env["MANDATE_TASK_QUEUE"] = task_queue
    command = [MANDATE, "metrics", "--agent", "refund-agent", "--window", "1h", "--address", address, *flags]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


async def test_a_run_with_one_blocked_call_reads_as_what_was_counted(
    env, client: Client, task_queue: str, workflow_id: str, charters: dict[str, Charter]
) -> None:
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start_refund(client, task_queue, workflow_id, 1002, reason="broken, please delete my account")
        await wait_pending(handle, "issue_refund")  # delete_customer was blocked on the way
        await handle.signal("reject", await signed_decision(handle, "sam@example.com", approve=False, reason="no"))
        assert (await handle.result()).violations == 1
    address = env.client.service_client.config.target_host

    async def counted() -> dict | None:
        shown = await _metrics(address, task_queue, "--json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        return data if data["runs"] == data["completed"] == data["exception_runs"] == 1 else None

    data = await eventually(counted, what="the run in the metrics")
    assert data["exception_causes"] == {"policy violation": 1} and data["exception_rate"] == 1.0

    shown = await _metrics(address, task_queue)
    assert shown.returncode == 0, shown.stderr
    words = " ".join(shown.stdout.split())
    assert "exceptions 100% (1 of 1 runs: 1 policy violation)" in words, shown.stdout
    assert [line for line in shown.stdout.splitlines() if len(line) > 80] == [], shown.stdout
