"""No monitor means no pause (item 5 of the insider issue): a missing or foreign monitor refuses starts.

Each agent's pause is held by its kill-criteria monitor. An insider with the frontend (the stock
`temporal` CLI, a client and a worker of their own on a queue of their own, no key the worker trusts) used
to lift a pause by ending the monitor: with none running, starts went through. With a workflow of the
monitor's type at the monitor's id on their own queue, answered by their own worker, `mandate kill` told it
"paused" while the next start ran, and a restarted worker adopted it. One real dev server and one real
`mandate worker` process with a production keys file, as in ``test_attacks``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from mandate import api
from mandate.contract import MONITOR_WORKFLOW, PAUSE_MEMO, monitor_id
from mandate.converter import mandate_data_converter
from mandate.run import AgentRunInput
from mandate.signer import Signer
from tests.reliability._harness import AGENT, BOB, MANDATE, SAM, TEMPORAL, Stack, WorkerProc, eventually
from tests.reliability._harness import one_error_line as _one_line

MONITOR_ID = monitor_id(AGENT)


@dataclass
class Guarded:
    st: Stack
    legit: dict[str, str]  # the people the risk owner's keys file lists, on their own machines
    attacker: dict[str, str]  # the frontend and a home of their own: no trusted key

    async def run(self, env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """The CLI (or the stock `temporal` one), without blocking the loop: the attacker's worker runs in it."""
        command = [MANDATE, *args] if args[0] != "temporal" else [TEMPORAL, *args[1:]]
        command += ["--address", self.st.address]
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=self.st.cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"`{' '.join(command)}` did not finish in {timeout:.0f}s") from None
        return subprocess.CompletedProcess(command, proc.returncode or 0, out.decode(), err.decode())

    async def start(self, order_id: int) -> subprocess.CompletedProcess[str]:
        order = json.dumps({"order_id": order_id, "reason": "arrived damaged"})
        return await self.run(self.legit, "start", AGENT, "--input", order, "--requested-by", BOB)

    async def start_direct(self, order_id: int, monkeypatch: pytest.MonkeyPatch) -> str:
        """Signed by bob on his machine, sent straight to Temporal, past `mandate start`'s own check."""
        order = {"order_id": order_id, "reason": "arrived damaged"}
        workflow_id = f"{AGENT}-{uuid.uuid4().hex[:8]}"
        with monkeypatch.context() as as_bob:
            as_bob.setenv("MANDATE_HOME", self.legit["MANDATE_HOME"])
            as_bob.setenv("MANDATE_KEYS", self.legit["MANDATE_KEYS"])
            start = Signer.of(BOB).start(namespace="default", agent=AGENT, workflow_id=workflow_id, input=order)
        client = await self.st.client()
        await client.start_workflow(
            "RefundAgent", AgentRunInput(input=order, requested_by=BOB, start=start), id=workflow_id, task_queue="mandate"
        )
        return workflow_id

    async def refused(self, workflow_id: str) -> str:
        """Why the run refused to start (it must end at once, not wait for an approval)."""
        try:
            result = await self.st.result(workflow_id, timeout=30)
        except WorkflowFailureError as failed:
            cause = str(failed.cause)
        except TimeoutError:
            raise AssertionError(f"{workflow_id} started: {(await self.st.status(workflow_id)).state}") from None
        else:
            raise AssertionError(f"{workflow_id} ran: {result}")
        assert "refused to start" in cause, cause
        return cause

    def refunds_for(self, *orders: int) -> list[Any]:
        return [r for r in self.st.refunds() if r[0] in orders]

    def worker(self) -> WorkerProc:
        return self.st.workers[-1]

    async def restart_worker(self, *, wait: bool = True) -> WorkerProc:
        await asyncio.to_thread(self.worker().stop)
        if wait:
            return await self.st.start_worker()
        w = await self.st.start_worker(wait=False)  # its monitor is not Mandate's: the harness's wait would not end

        async def polling() -> bool:
            return "worker on task queue" in w.output() and bool(await self.st.pollers(since=w.started_at))

        await eventually(polling, timeout=60, what="the restarted worker polling")
        return w


def _env(base: dict[str, str], home: Path, keys: Path) -> dict[str, str]:
    return {**base, "MANDATE_HOME": str(home), "MANDATE_KEYS": str(keys)}


@pytest_asyncio.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Guarded]:
    st = Stack(tmp_path / "stack")
    keys_file = tmp_path / "risk-owner" / "keys.toml"
    legit = _env(st.env, tmp_path / "legit", keys_file)
    worker = _env(st.env, st.home, keys_file)
    attacker = _env(st.env, tmp_path / "attacker", tmp_path / "attacker" / "keys.toml")
    for person, env in [(p, legit) for p in (SAM, BOB, "raj@example.com")] + [("mandate-monitor", worker)]:
        made = subprocess.run([MANDATE, "keys", "new", "--as", person], env=env, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
    st.env = worker
    try:
        await st.start_server()
        await st.start_worker()
        yield Guarded(st=st, legit=legit, attacker=attacker)
    finally:
        st.close()


# ------------------------------------------------------------------- the monitor, terminated


async def test_a_terminated_monitor_refuses_starts_and_comes_back_still_paused(
    guarded: Guarded, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guarded
    killed = await g.run(g.legit, "kill", AGENT, "--as", SAM, "--reason", "refunds look wrong")
    assert killed.returncode == 0, killed.stderr
    ended = await g.run(g.attacker, "temporal", "workflow", "terminate", "--workflow-id", MONITOR_ID, "--reason", "x")
    assert ended.returncode == 0, ended.stderr

    # `mandate start` finds no monitor to ask and starts the run; the run itself refuses, as does a direct one.
    started = await g.start(1002)
    assert started.returncode == 0, started.stderr
    cause = await g.refused(started.stdout.strip().splitlines()[-1])
    assert f"the kill-criteria monitor of {AGENT} ({MONITOR_ID}) has ended (terminated)" in cause, cause
    assert "restart `mandate worker`" in cause, cause
    cause = await g.refused(await g.start_direct(1003, monkeypatch))
    assert "has ended (terminated)" in cause, cause
    assert g.refunds_for(1002, 1003) == []
    alerts = [line for line in g.worker().output().splitlines() if "monitor_ended" in line]
    assert alerts and "error" in alerts[0] and MONITOR_ID in alerts[0], g.worker().output()[-3000:]

    # A decoy of the monitor's type on Mandate's queue, with a memo saying "not paused", which no worker
    # ever ran (a start delay), then ended: its memo was not written by the monitor's code, so not carried.
    attacker = await Client.connect(g.st.address, data_converter=mandate_data_converter)
    decoy = await attacker.start_workflow(
        MONITOR_WORKFLOW, id=MONITOR_ID, task_queue="mandate", start_delay=timedelta(hours=1),
        memo={PAUSE_MEMO: {"paused": False, "stop_go_owner": SAM}},
    )  # fmt: skip
    await decoy.terminate("decoy")

    # A restarted worker starts the monitor again, with the owner's pause, not unpaused.
    restarted = await g.restart_worker()
    client = await g.st.client()
    state = await api.pause_state(client, AGENT)
    assert state is not None and state.paused, state
    assert state.decision is not None and state.decision.by == SAM and "refunds look wrong" in state.decision.reason
    assert not state.decision.verified  # carried without its statement: shown unverified
    assert "monitor_restarted" in restarted.output()
    line = _one_line(await g.start(1004))
    assert f"{AGENT} is paused by {SAM}" in line, line
    cause = await g.refused(await g.start_direct(1005, monkeypatch))
    assert f"{AGENT} is paused" in cause, cause
    assert g.refunds_for(1004, 1005) == []

    # The owner's signed resume lifts the carried pause as any other.
    resumed = await g.run(g.legit, "resume", AGENT, "--as", SAM, "--reason", "fixed")
    assert resumed.returncode == 0, resumed.stderr
    workflow_id = (await g.start(1006)).stdout.strip().splitlines()[-1]
    await g.st.wait_pending(workflow_id, "issue_refund")


# ------------------------------------------------------------------- a monitor of someone else's


@workflow.defn(name=MONITOR_WORKFLOW)
class FakeMonitor:
    """The attacker's own "monitor": never paused, takes every kill and says it paused."""

    def __init__(self) -> None:
        self.kills: list[dict[str, Any]] = []

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_memo({PAUSE_MEMO: {"paused": False, "stop_go_owner": SAM}})  # as the real one writes it
        await workflow.wait_condition(lambda: False)

    @workflow.query(name="pause_state")
    def pause_state(self) -> dict[str, Any]:
        return {"agent": AGENT, "paused": False, "stop_go_owner": SAM}

    @workflow.query(name="kills")
    def kills_taken(self) -> int:
        return len(self.kills)

    @workflow.update(name="kill")
    def kill(self, order: dict[str, Any]) -> dict[str, Any]:
        self.kills.append(order)
        return {"at": workflow.now().isoformat(), "agent": AGENT, "by": order.get("by"), "reason": "ok", "action": "cancel"}  # fmt: skip


async def test_a_monitor_on_another_queue_is_refused_not_obeyed_nor_adopted(
    guarded: Guarded, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guarded
    killed = await g.run(g.legit, "kill", AGENT, "--as", SAM, "--reason", "hold the fleet")
    assert killed.returncode == 0, killed.stderr
    ended = await g.run(g.attacker, "temporal", "workflow", "terminate", "--workflow-id", MONITOR_ID, "--reason", "x")
    assert ended.returncode == 0, ended.stderr

    attacker = await Client.connect(g.st.address, data_converter=mandate_data_converter)
    queue = f"squat-{uuid.uuid4().hex[:6]}"
    async with Worker(attacker, task_queue=queue, workflows=[FakeMonitor], workflow_runner=UnsandboxedWorkflowRunner()):
        fake = await attacker.start_workflow(
            FakeMonitor.run, id=MONITOR_ID, task_queue=queue, memo={PAUSE_MEMO: {"paused": False, "stop_go_owner": SAM}}
        )
        # the fake's worker has run it: its own code wrote its memo (in its history) and it answers
        await eventually(lambda: _memo_upserted(fake), timeout=30, what="the fake's memo upsert")

        line = _one_line(await g.run(g.legit, "kill", AGENT, "--as", SAM, "--reason", "stop again", "--rollback"))
        assert f"{MONITOR_ID} is a {MONITOR_WORKFLOW} on task queue '{queue}', not Mandate's 'mandate'" in line, line
        assert "impostor" in line and "temporal workflow terminate" in line, line
        assert await fake.query(FakeMonitor.kills_taken) == 0  # nothing was sent to it
        for command in (["resume", AGENT, "--as", SAM, "--reason", "x"], ["start", AGENT, "--input", '{"order_id": 1012}', "--requested-by", BOB]):  # fmt: skip
            line = _one_line(await g.run(g.legit, *command))
            assert "impostor" in line and queue in line, line
        cause = await g.refused(await g.start_direct(1013, monkeypatch))
        assert "impostor" in cause and queue in cause, cause
        alerts = [line for line in g.worker().output().splitlines() if "monitor_impostor" in line]
        assert alerts and "error" in alerts[0] and MONITOR_ID in alerts[0], g.worker().output()[-3000:]

        # A restarted worker does not adopt it, nor starts a second monitor: it raises the alert and
        # keeps refusing starts until someone ends the impostor.
        restarted = await g.restart_worker(wait=False)
        assert "monitor_impostor" in restarted.output(), restarted.output()[-3000:]
        there = await fake.describe()
        assert (there.run_id, there.task_queue, there.status) == (fake.result_run_id, queue, WorkflowExecutionStatus.RUNNING)  # fmt: skip
        cause = await g.refused(await g.start_direct(1014, monkeypatch))
        assert "impostor" in cause, cause
        assert g.refunds_for(1012, 1013, 1014) == []
        assert await fake.query(FakeMonitor.kills_taken) == 0

    # The fix the refusals name: end the impostor, restart the worker. Mandate's monitor is back, and it
    # carries the owner's pause from before the attack past the impostor's "not paused".
    await fake.terminate("operator: not ours")
    await g.restart_worker()
    state = await api.pause_state(await g.st.client(), AGENT)
    assert state is not None and state.paused and state.decision is not None, state
    assert "hold the fleet" in state.decision.reason, state
    assert (await (await g.st.client()).get_workflow_handle(MONITOR_ID).describe()).task_queue == "mandate"


async def _memo_upserted(handle: Any) -> bool:
    from temporalio.api.enums.v1 import EventType

    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            return True
    return False


# ------------------------------------------------------------ the monitor, reset with nothing carried


async def test_a_fresh_monitor_started_by_anyone_keeps_the_pause_before_it(
    guarded: Guarded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker ends the paused monitor and starts a new one on Mandate's queue with nothing carried:
    Mandate's worker runs it. It used to run unpaused; a monitor that begins a chain takes its
    predecessor's pause from that run's own history."""
    g = guarded
    killed = await g.run(g.legit, "kill", AGENT, "--as", SAM, "--reason", "hold the fleet")
    assert killed.returncode == 0, killed.stderr
    ended = await g.run(g.attacker, "temporal", "workflow", "terminate", "--workflow-id", MONITOR_ID, "--reason", "x")
    assert ended.returncode == 0, ended.stderr
    fresh = await g.run(
        g.attacker, "temporal", "workflow", "start", "--type", MONITOR_WORKFLOW, "--task-queue", "mandate",
        "--workflow-id", MONITOR_ID, "--input", json.dumps({"agent": AGENT}),
    )  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr
    client = await g.st.client()

    async def published() -> Any:
        state = await api.pause_state(client, AGENT)
        return state if state is not None and state.decision is not None else None

    state = await eventually(published, timeout=60, what="the fresh monitor to carry the pause")
    assert state.paused and state.decision is not None and "hold the fleet" in state.decision.reason, state
    line = _one_line(await g.start(1006))
    assert f"{AGENT} is paused" in line, line
    cause = await g.refused(await g.start_direct(1008, monkeypatch))
    assert f"{AGENT} is paused" in cause, cause
    assert g.refunds_for(1006, 1008) == []
