"""The payload and signal limits, exercised on `mandate dev` itself (not only on the test suites' servers):
a signal over 512 KiB is refused by the server, a run takes at most its allowance of signals, and a run whose
allowance a flood used up is still decided by its approver, by update."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from mandate.worker.dev_server import SERVER_LIMITS
from tests.test_cli import Server, cli, server, start_refund, wait_pending_tool  # noqa: F401  (the fixture)


async def test_mandate_dev_refuses_oversized_and_excess_signals_and_the_run_is_still_decided(server: Server) -> None:  # noqa: F811
    _, workflow_id = start_refund(server, 1036)
    wait_pending_tool(server, workflow_id, "issue_refund")
    handle = (await Client.connect(server.address)).get_workflow_handle(workflow_id)
    with pytest.raises(RPCError) as too_big:
        await handle.signal("approve", "x" * (SERVER_LIMITS["limit.blobSize.error"] + 1024))
    assert "size" in too_big.value.message.lower(), too_big.value.message
    allowance = SERVER_LIMITS["history.maximumSignalsPerExecution"]
    taken = 0
    with pytest.raises(RPCError) as past:
        for _ in range(allowance + 1):
            await handle.signal("approve", "junk")
            taken += 1
    assert taken <= allowance and "limit for signal events" in past.value.message, (taken, past.value.message)
    approved = cli(server, "approve", workflow_id, "--as", "raj@example.com", "--reason", "photos")
    assert approved.ok, approved
    wait_pending_tool(server, workflow_id, "notify_customer")
