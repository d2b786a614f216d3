"""An approval sent by update while no worker runs.

`mandate approve` uses the `decide` update. The contract (README, docs/decisions.md): if no worker
polls the run's task queue the command says so and decides nothing; send it again once a worker
runs. Two situations reach "no worker" in practice:

- no worker has ever polled the queue (a fresh server): the command refuses before sending;
- the worker that served the run has just died or been stopped: Temporal still lists it as a
  poller for a while, so the update *is* sent and waits for a worker that never answers.
"""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType

from mandate.run import RunState
from tests.helpers import one_line_error
from tests.reliability._harness import RAJ, Result, Stack, eventually, expect


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
    # Had the command sent the update, it would wait up to --timeout (6 min) for a worker to answer; it must
    # refuse before sending, so long before that (acli fails the test past CALL_TIMEOUT, 90 s).
    command: tuple[str, ...] = ("approve", workflow_id, "--as", RAJ, "--request", "r1", "--reason", "checked")
    command += ("--timeout", "360")

    refused = await st.acli(*command)
    line = one_line_error(refused)
    assert "no worker is polling task queue" in line and "start `mandate worker`" in line, refused
    assert "nothing was decided" in line, refused

    await st.start_worker()
    status = await st.wait_pending(workflow_id, "issue_refund")
    assert status.decisions == [] and [r.id for r in status.pending] == ["r1"]

    again = await st.acli(*command)
    assert again.ok, again
    assert f"approved r1 of {workflow_id} as {RAJ}" in again.stdout, again
    status = await st.wait_pending(workflow_id, "notify_customer")
    assert [(d.request_id, d.approver) for d in status.decisions] == [("r1", RAJ)]
    assert [row[0] for row in st.refunds()] == [1001]
    # One update in the history, the one that worked: the refused command had sent none.
    assert await update_events(st, workflow_id) == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]


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


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_worker_gone_nothing_is_half_decided_and_the_same_command_succeeds_later(
    stack: Stack, how: str
) -> None:
    st = stack
    worker = await st.start_worker()
    workflow_id = await st.start_run(1003 if how == "sigkill" else 1004)
    await st.wait_pending(workflow_id, "issue_refund")
    worker.kill() if how == "sigkill" else worker.stop()
    assert not worker.alive()
    command = ("approve", workflow_id, "--as", RAJ, "--reason", "photos confirm it", "--timeout", "4")

    failed = await st.acli(*command)
    line = one_line_error(failed)
    assert "no worker" in line and "nothing was decided" in line, failed

    await st.start_worker()
    # Until the new worker demonstrably serves the run: an outsider's decision is refused by the run
    # itself, not for want of a worker. Temporal hands a workflow task every update it still holds, so a
    # decision left over from the failed command would have been taken or refused by now as well.
    outsider = ("approve", workflow_id, "--as", "mallory@example.com", "--request", "r1", "--timeout", "30")

    async def served() -> Result | None:
        r = await st.acli(*outsider)
        return r if r.returncode == 1 and "no worker" not in r.stderr else None

    probe = await eventually(served, timeout=240, what="the new worker to answer for the run", every=1)
    one_line_error(probe)
    status = await st.status(workflow_id)
    half_decided = [(d.request_id, d.approver, d.channel.value) for d in status.decisions]
    again = await st.acli(*command)
    # The approved refund runs, then the run asks for the next approval.
    final = await st.wait_status(
        workflow_id, "the next request or an end", lambda s: bool(s.pending or s.outcome)
    )
    expect(
        half_decided == [],
        f"the command failed ({line}) yet, once a worker came back, the run "
        f"recorded {half_decided}; the re-sent command then said: {again.stdout.strip() or again.stderr.strip()}; "
        f"decisions now: {[(d.request_id, d.approver) for d in final.decisions]}",
    )
    expect(again.ok and f"approved r1 of {workflow_id}" in again.stdout, f"{again}")
    expect(
        final.state is RunState.WAITING_APPROVAL and [r.tool for r in final.pending] == ["notify_customer"],
        f"state {final.state}, pending {[r.tool for r in final.pending]}",
    )
    expect([(d.request_id, d.approver) for d in final.decisions] == [("r1", RAJ)], f"{final.decisions}")
    assert [row[:2] for row in st.refunds()] == [(1003 if how == "sigkill" else 1004, "issued")]
