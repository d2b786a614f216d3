"""The kill-criteria monitor, shown acting on a real stack: a breach rolls the fleet back, each run by a
kill the monitor signed for it alone, and pauses the agent (issue 16: its test stack could never trip)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mandate import api
from mandate.contract import MONITOR
from tests.reliability._harness import AGENT, RAJ, SAM, Stack, eventually, patch_charter


async def test_a_breach_rolls_the_fleet_back_with_a_kill_signed_for_each_run(tmp_path: Path) -> None:
    st = Stack(tmp_path, quiet_monitor=False)
    patch_charter(
        st.cwd / "charters" / f"{AGENT}.toml",
        {r"^min_samples = \d+": "min_samples = 4", r'^check_every = ".*"': 'check_every = "2s"'},
    )
    try:
        await st.start_server()
        await st.start_worker()
        client = await st.client()
        standing = await st.start_run(1001)  # its refund issued, then waiting: the write to undo
        await st.wait_pending(standing, "issue_refund")
        approved = await st.acli("approve", standing, "--as", RAJ, "--reason", "photos")
        assert approved.ok, approved
        await st.wait_pending(standing, "notify_customer")
        for order in (1002, 1003, 1004):  # three rejected runs: a rework rate of 3/4
            rejected = await st.start_run(order)
            await st.wait_pending(rejected, "issue_refund")
            done = await st.acli("reject", rejected, "--as", SAM, "--reason", "wrong item")
            # the monitor may trip before the last one is decided (4 runs, 2 of them rework) and stop it
            assert done.ok or "nothing left to decide" in done.stderr, done
            await st.result(rejected)

        async def rolled_back() -> Any:
            status = await st.status(standing)
            return status if status.state.value == "rolled_back" else None

        status = await eventually(rolled_back, timeout=90, what="the monitor to roll the standing run back")
        killed = status.killed
        assert killed is not None and killed.by == MONITOR and killed.verified, killed
        assert killed.statement is not None and killed.statement.workflow_id == standing
        assert killed.statement.run_id == (await client.get_workflow_handle(standing).describe()).run_id
        assert "kill criteria breached: rework_rate" in killed.reason, killed.reason
        assert [s for o, s, _ in st.refunds() if o == 1001] == ["reversed"]
        notice = await api.pause_notice(client, AGENT)
        assert notice is not None and notice.paused and notice.by == MONITOR, notice
        refused = await st.acli("start", AGENT, "--input", '{"order_id": 1005, "reason": "x"}', "--requested-by", "bob@example.com")
        assert not refused.ok and "is paused" in refused.stderr, refused
    finally:
        st.close()
