"""The monitor's cost ledger: the same total as reading every run of the window, reading only what changed.

Runs of a workflow type no worker serves, started with the search attributes a run carries: visibility is
the ledger's only input, and the server is real.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from mandate import search_attributes as sa
from mandate.activities.cost_ledger import CostLedger
from mandate.activities.metrics import _runs_of
from tests.helpers import eventually


async def _run(client: Client, agent: str, task_queue: str, cost: float, *, close: bool) -> WorkflowHandle:
    handle = await client.start_workflow(
        "CostedRun",
        id=f"{agent}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,  # no worker polls it: the run stays running until terminated
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(sa.AGENT, agent), SearchAttributePair(sa.COST, cost)]
        ),
    )
    if close:
        await handle.terminate("closed by the test")
    return handle


async def _visible(client: Client, runs: str, closed: int, running: int) -> None:
    async def probe() -> bool:
        shut = await client.count_workflows(f"{runs} AND ExecutionStatus != 'Running'")
        open_ = await client.count_workflows(f"{runs} AND ExecutionStatus = 'Running'")
        return shut.count == closed and open_.count == running

    await eventually(probe, what=f"{closed} closed and {running} running runs in visibility")


async def test_a_check_reads_only_the_runs_that_changed_and_adds_up_the_same(client: Client, task_queue: str):
    agent = f"costed-{uuid.uuid4().hex[:6]}"
    runs = _runs_of(agent, None, task_queue)
    start = datetime.now(UTC) - timedelta(minutes=5)
    ledger = CostLedger(client, overlap=timedelta(0))
    for cost in (1.0, 2.0, 3.0):
        await _run(client, agent, task_queue, cost, close=True)
    running = await _run(client, agent, task_queue, 5.0, close=False)
    await _visible(client, runs, closed=3, running=1)

    first = await ledger.total(runs, start, datetime.now(UTC))
    assert (sum(first.values()), ledger.last_read) == (11.0, 4)

    again = await ledger.total(runs, start, datetime.now(UTC))
    assert (sum(again.values()), ledger.last_read) == (11.0, 1)  # only the running run was read again

    await running.terminate("closed by the test")
    await _run(client, agent, task_queue, 7.0, close=True)
    await _visible(client, runs, closed=5, running=0)
    later = await ledger.total(runs, start, datetime.now(UTC))
    assert (sum(later.values()), ledger.last_read) == (18.0, 2)  # the two runs closed since
    fresh = await CostLedger(client).total(runs, start, datetime.now(UTC))
    assert fresh == later

    # A run leaves the window by its start time: a window starting now holds none of them.
    assert await ledger.total(runs, datetime.now(UTC), datetime.now(UTC)) == {}
