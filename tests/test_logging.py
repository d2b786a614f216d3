"""Every line a run writes carries the workflow id, run id, agent, and (for tools) tool and authority."""

from __future__ import annotations

import json
import logging

import pytest

from mandate.logging import configure_logging
from mandate.worker import build_worker
from tests.helpers import finished, signed_decision, start_refund, wait_pending

# Each test refunds from a shop of its own: none depends on which orders an earlier test refunded.
pytestmark = pytest.mark.usefixtures("fresh_shop")


async def test_json_logs_bind_run_context(client, task_queue, workflow_id, charters, capsys):
    configure_logging("json", "INFO")
    try:
        async with build_worker(client, task_queue=task_queue, charters=charters):
            handle = await start_refund(client, task_queue, workflow_id, 1016)
            await wait_pending(handle, "issue_refund")
            await handle.signal(
                "reject", await signed_decision(handle, "sam@example.com", approve=False, reason="no")
            )
            await finished(handle)
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("workflow_id") == workflow_id]
    events = {line["event"] for line in mine}
    assert {
        "run_started",
        "tool_scheduled",
        "tool_started",
        "tool_finished",
        "approval_requested",
        "approval_decided",
        "run_finished",
    } <= events
    for line in mine:
        assert line["agent"] == "refund-agent" and line["run_id"], line
    tool_lines = [
        line for line in mine if line["event"] in ("tool_started", "tool_finished", "tool_scheduled")
    ]
    assert {(line["tool"], line["authority"]) for line in tool_lines} == {
        ("lookup_order", "read"),
        ("check_refund_policy", "read"),
    }
