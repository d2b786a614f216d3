"""Load: 1,000 concurrent runs, each waiting for a person, approved by a batch from the CLI.

Nothing is lost: Temporal visibility counts every run, none failed, `mandate metrics` counts them
all, the shop sent exactly one notice per run, and every history replays against today's code.

Every run is on an order the refund policy declines (delivered too long ago, or still in transit),
so each one proposes `notify_customer`, which needs approval: 1,000 pending approvals on a shop of
50 orders. The shipped charter is used as is, kill criteria included: the monitor watches the
whole load and must not trip (no rework, no exception, cost per run far below the threshold).

The batch is what an operator does: `mandate pending --json > batch.json`, read it, then
`mandate approve --batch batch.json --as NAME`, which decides exactly the requests the file lists.

MANDATE_LOAD_RUNS overrides the number of runs (for a quicker look at the same path).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mandate import api
from mandate import search_attributes as sa
from tests.reliability._harness import INELIGIBLE, QI, Stack, bounded, eventually

RUNS = int(os.environ.get("MANDATE_LOAD_RUNS", "1000"))
AGENT_Q = f"{sa.AGENT.name} = 'refund-agent'"
COST_PER_RUN = 0.001 + 0.002 + 0.005  # lookup_order + check_refund_policy + notify_customer


@pytest.mark.slow
async def test_a_thousand_runs_approved_by_a_batch_from_the_cli(tmp_path: Path) -> None:
    st = Stack(tmp_path / "stack", quiet_monitor=False)
    timings: dict[str, float] = {}
    try:
        await st.start_server()
        await st.start_worker()
        client = await st.client()

        began = time.monotonic()
        started = await bounded(
            range(RUNS), lambda i: st.start_run(INELIGIBLE[i % len(INELIGIBLE)]), limit=20
        )
        assert len(set(started)) == RUNS
        timings["start"] = time.monotonic() - began

        async def waiting() -> int | None:
            n = (await client.count_workflows(f"{AGENT_Q} AND {sa.PENDING_APPROVALS.name} = 1")).count
            return n if n == RUNS else None

        await eventually(waiting, timeout=900, what=f"{RUNS} runs waiting for approval", every=2)
        timings["to_pending"] = time.monotonic() - began

        # The batch, from the CLI.
        began = time.monotonic()
        listed = await st.acli("pending", "--agent", "refund-agent", "--json", timeout=600)
        assert listed.ok, listed
        items = listed.json()
        assert len(items) == RUNS
        assert {i["workflow_id"] for i in items} == set(started)
        assert {(i["tool"], i["id"], i["status"]) for i in items} == {("notify_customer", "r1", "pending")}
        timings["pending"] = time.monotonic() - began

        # The batch: the very list the operator reviewed, approved by one command.
        began = time.monotonic()
        batch = tmp_path / "batch.json"
        batch.write_text(listed.stdout, encoding="utf-8")
        approved = await st.acli("approve", "--batch", str(batch), "--as", QI, "--reason", "batch", timeout=900)
        assert approved.ok, approved
        assert f"approved {RUNS} of {RUNS} request(s) as {QI}" in approved.stdout, approved
        timings["approve"] = time.monotonic() - began

        async def completed() -> int | None:
            n = (await client.count_workflows(f"{AGENT_Q} AND ExecutionStatus = 'Completed'")).count
            return n if n == RUNS else None

        await eventually(completed, timeout=600, what=f"{RUNS} runs completed", every=2)
        assert (await client.count_workflows(AGENT_Q)).count == RUNS
        assert (await client.count_workflows(f"{AGENT_Q} AND ExecutionStatus != 'Completed'")).count == 0
        assert (await client.count_workflows(f"{AGENT_Q} AND {sa.STATE.name} = 'completed'")).count == RUNS
        assert (
            await client.count_workflows(
                f"{AGENT_Q} AND {sa.FLAGS.name} IN ('rework', 'violation', 'tool_error', 'killed', 'escalated')"
            )
        ).count == 0

        keys = [key for _, key in st.notifications()]
        run_ids = {wf.id: wf.run_id async for wf in client.list_workflows(AGENT_Q)}
        assert sorted(keys) == sorted(f"{w}:{run_ids[w]}:r1" for w in started)  # each write names its run
        assert st.refunds() == []

        metrics = await st.acli("metrics", "--agent", "refund-agent", "--window", "1h", "--json", timeout=300)
        assert metrics.ok, metrics
        m = metrics.json()
        assert (m["runs"], m["completed"], m["failed"], m["running"]) == (RUNS, RUNS, 0, 0), m
        assert (m["rework_runs"], m["exception_runs"], m["escalated_runs"]) == (0, 0, 0), m
        assert m["total_cost"] == pytest.approx(RUNS * COST_PER_RUN, rel=1e-6), m
        assert m["cost_per_completed"] == pytest.approx(COST_PER_RUN, rel=1e-4), m
        assert m["throughput_per_hour"] == pytest.approx(RUNS, rel=1e-3), m

        paused = await api.pause_state(client, "refund-agent")
        assert paused is not None and not paused.paused, paused

        began = time.monotonic()
        replayed = await st.acli("replay", "--agent", "refund-agent", "--since", "2h", timeout=1200)
        timings["replay"] = time.monotonic() - began
        assert replayed.ok, replayed
        assert f"{RUNS} of {RUNS} run(s)" in replayed.stdout and "replay cleanly" in replayed.stdout, replayed
    finally:
        st.close()
        print("\nload timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
