"""An approval sent by update while no worker runs.

`mandate approve` uses the `decide` update. The contract (README, docs/decisions.md): if no worker
polls the run's task queue the command says so and decides nothing; send it again once a worker
runs. Two situations reach "no worker" in practice:

- no worker has ever polled the queue (a fresh server): the command refuses before sending;
- the worker that served the run has just died or been stopped: Temporal still lists it as a
  poller for a while, so the update *is* sent and waits for a worker that never answers.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType

from mandate.run import RunState
from tests.helpers import one_line_error
from tests.reliability._harness import RAJ, Stack, expect


async def update_events(st: Stack, workflow_id: str) -> list[str]:
    names = []
    async for event in st.handle(workflow_id).fetch_history_events():
        if event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        ):
            names.append(EventType.Name(event.event_type))
    return names


async def test_no_worker_ever_the_cli_says_so_decides_nothing_and_the_same_command_works_later(
    stack: Stack,
) -> None:
    st = stack
    await st.client()
    workflow_id = await st.start_run(1001, direct=True)  # no worker, so no monitor to ask
    command = ("approve", workflow_id, "--as", RAJ, "--request", "r1", "--reason", "checked")

    refused = await st.acli(*command)
    line = one_line_error(refused)
    assert "no worker" in line and "mandate worker" in line and "nothing was decided" in line, refused
    assert refused.seconds < 15, refused
    assert await update_events(st, workflow_id) == []

    await st.start_worker()
    status = await st.wait_pending(workflow_id, "issue_refund")
    assert status.decisions == [] and [r.id for r in status.pending] == ["r1"]

    again = await st.acli(*command)
    assert again.ok, again
    assert f"approved r1 of {workflow_id} as {RAJ}" in again.stdout, again
    status = await st.wait_pending(workflow_id, "notify_customer")
    assert [(d.request_id, d.approver) for d in status.decisions] == [("r1", RAJ)]
    assert [row[0] for row in st.refunds()] == [1001]


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_worker_gone_the_cli_says_no_worker_answered_in_one_line(stack: Stack, how: str) -> None:
    st = stack
    worker = await st.start_worker()
    workflow_id = await st.start_run(1002)
    await st.wait_pending(workflow_id, "issue_refund")
    worker.kill() if how == "sigkill" else worker.stop()

    refused = await st.acli("approve", workflow_id, "--as", RAJ, "--request", "r1", "--timeout", "4")
    lines = refused.stderr.strip().splitlines()
    expect(
        refused.returncode == 1 and len(lines) == 1 and "Traceback" not in refused.stderr,
        f"not a one-line error:\n{refused}",
    )
    expect("no worker" in lines[0], f"does not say that no worker answered:\n{refused}")


async def test_worker_gone_nothing_is_half_decided_and_the_same_command_succeeds_later(stack: Stack) -> None:
    st = stack
    worker = await st.start_worker()
    workflow_id = await st.start_run(1003)
    await st.wait_pending(workflow_id, "issue_refund")
    worker.kill()
    command = ("approve", workflow_id, "--as", RAJ, "--reason", "photos confirm it", "--timeout", "4")

    failed = await st.acli(*command)
    assert not failed.ok, failed

    await st.start_worker()
    # Give the new worker time to serve the run (past the 10 s sticky-queue timeout) and watch for a decision.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    status = await st.status(workflow_id)
    while not status.decisions and loop.time() < deadline:
        await asyncio.sleep(0.5)
        status = await st.status(workflow_id)
    half_decided = [(d.request_id, d.approver, d.channel.value) for d in status.decisions]
    again = await st.acli(*command)
    # The approved refund runs, then the run asks for the next approval.
    final = await st.wait_status(workflow_id, "the next request or an end", lambda s: bool(s.pending or s.outcome))
    expect(
        half_decided == [],
        f"the command failed ({failed.stderr.strip().splitlines()[-1]}) yet, once a worker came back, the run "
        f"recorded {half_decided}; the re-sent command then said: {again.stdout.strip() or again.stderr.strip()}; "
        f"decisions now: {[(d.request_id, d.approver) for d in final.decisions]}",
    )
    expect(again.ok and f"approved r1 of {workflow_id}" in again.stdout, f"{again}")
    expect(
        final.state is RunState.WAITING_APPROVAL and [r.tool for r in final.pending] == ["notify_customer"],
        f"state {final.state}, pending {[r.tool for r in final.pending]}",
    )
    expect([(d.request_id, d.approver) for d in final.decisions] == [("r1", RAJ)], f"{final.decisions}")
