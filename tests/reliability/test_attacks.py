"""Attacks by anyone who can reach the Temporal frontend, each of which used to work, each now refused.

One real dev server and one real `mandate worker` process, with a production keys file (not a demo
file): the risk owner's file lists keys for raj, sam, qi and bob, whose private parts live in the
legitimate users' home; the worker holds the monitor's service key. The attacker has the frontend (the
stock `temporal` CLI, a client, a workflow and worker of their own on their own task queue) and the
`mandate` CLI with a home of their own: no private key the worker trusts.
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
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from mandate.converter import mandate_data_converter
from tests.reliability._harness import MANDATE, TEMPORAL, Stack, eventually
from tests.reliability._harness import one_error_line as _one_line

RAJ, SAM, QI, BOB = "raj@example.com", "sam@example.com", "qi@example.com", "bob@example.com"
AGENT_SA = SearchAttributeKey.for_keyword("MandateAgent")
FLAGS_SA = SearchAttributeKey.for_keyword_list("MandateFlags")
COST_SA = SearchAttributeKey.for_float("MandateCost")


@dataclass
class Secured:
    st: Stack
    keys_file: Path
    legit: dict[str, str]  # the environment of the people the keys file lists
    attacker: dict[str, str]  # someone with the frontend and a home of their own

    def run(self, env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        command = [MANDATE, *args] if args[0] != "temporal" else [TEMPORAL, *args[1:]]
        command += [] if args[0] == "keys" else ["--address", self.st.address]
        return subprocess.run(command, cwd=self.st.cwd, env=env, capture_output=True, text=True, timeout=timeout)

    def start(self, order_id: int, reason: str = "arrived damaged") -> str:
        done = self.run(self.legit, "start", "refund-agent", "--input", json.dumps({"order_id": order_id, "reason": reason}), "--requested-by", BOB)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


def _env(base: dict[str, str], home: Path, keys: Path) -> dict[str, str]:
    return {**base, "MANDATE_HOME": str(home), "MANDATE_KEYS": str(keys)}


@pytest_asyncio.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Secured]:
    root = tmp_path_factory.mktemp("attacks")
    st = Stack(root / "stack")
    keys_file = root / "risk-owner" / "keys.toml"
    legit = _env(st.env, root / "legit", keys_file)
    worker = _env(st.env, st.home, keys_file)
    attacker = _env(st.env, root / "attacker", root / "attacker" / "keys.toml")
    for person in (RAJ, SAM, QI, BOB):
        made = subprocess.run([MANDATE, "keys", "new", "--as", person], env=legit, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
    made = subprocess.run([MANDATE, "keys", "new", "--as", "mandate-monitor"], env=worker, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert "demo" not in keys_file.read_text()
    st.env = worker
    try:
        await st.start_server()
        await st.start_worker()
        yield Secured(st=st, keys_file=keys_file, legit=legit, attacker=attacker)
    finally:
        st.close()


# ------------------------------------------------------------------------- 1. tools obey any caller


@workflow.defn(name="Intruder")
class Intruder:
    @workflow.run
    async def run(self, tool: str) -> str:
        args = {"order_id": 1021, "amount_cents": 100, "reason": "x"} if tool == "issue_refund" else {"customer_id": 1}
        try:
            await workflow.execute_activity(
                tool,
                {"agent": "refund-agent", "args": args, "idempotency_key": "intruder:r1"},
                task_queue="mandate",
                start_to_close_timeout=timedelta(seconds=20),
                schedule_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return f"refused: {err.cause}"
        return "ran"


@workflow.defn(name="RefundAgent")
class Impostor(Intruder):
    """The attacker's own workflow, named like the agent, on the attacker's own task queue."""

    @workflow.run
    async def run(self, tool: str) -> str:
        return await super().run(tool)


async def test_a_workflow_of_the_attackers_own_cannot_call_mandates_tools(secured: Secured) -> None:
    client = await Client.connect(secured.st.address, data_converter=mandate_data_converter)
    queue = f"intruder-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[Intruder], workflow_runner=UnsandboxedWorkflowRunner()):
        refund = await client.execute_workflow(Intruder.run, "issue_refund", id=f"i-{uuid.uuid4().hex}", task_queue=queue)
        delete = await client.execute_workflow(Intruder.run, "delete_customer", id=f"i-{uuid.uuid4().hex}", task_queue=queue)
    assert refund.startswith("refused:") and "runs only for the agents this worker serves" in refund, refund
    assert delete.startswith("refused:") and "not registered" in delete, delete  # blocked everywhere: no activity
    async with Worker(client, task_queue=queue, workflows=[Impostor], workflow_runner=UnsandboxedWorkflowRunner()):
        named = await client.execute_workflow("RefundAgent", "issue_refund", id=f"i-{uuid.uuid4().hex}", task_queue=queue, result_type=str)  # fmt: skip
    # Named like the agent, but on the attacker's queue by the server's record: not Mandate's code.
    assert named.startswith("refused:") and "runs only for runs on task queue 'mandate'" in named, named
    assert [r for r in secured.st.refunds() if r[0] == 1021] == []
    assert secured.st._read("SELECT deleted FROM customers WHERE id = 1") in ([(0,)], [])


# ----------------------------------------------------------------------- 2. the approver is a name


async def test_an_approval_needs_the_approvers_key_not_their_name(secured: Secured) -> None:
    workflow_id = secured.start(1022)
    status = await secured.st.wait_pending(workflow_id, "issue_refund")
    line = _one_line(secured.run(secured.attacker, "approve", workflow_id, "--as", RAJ))
    assert line.startswith(f"error: no signing key for {RAJ}") and "mandate keys new" in line, line

    made = secured.run(secured.attacker, "keys", "new", "--as", RAJ)  # into the attacker's own keys file
    assert made.returncode == 0, made.stderr
    line = _one_line(secured.run(secured.attacker, "approve", workflow_id, "--as", RAJ))
    assert "is not in the keys file" in line, line

    update = secured.run(
        secured.attacker, "temporal", "workflow", "update", "execute", "--workflow-id", workflow_id,
        "--name", "decide", "--identity", RAJ, "--input", json.dumps({"approver": RAJ, "decision": "approve"}),
    )  # fmt: skip
    assert update.returncode != 0 and "needs a signed decision" in update.stdout + update.stderr, update

    line = _one_line(secured.run(secured.legit, "approve", workflow_id, "--as", BOB))
    assert f"{BOB} requested this run and cannot approve its actions" in line, line
    assert [r for r in secured.st.refunds() if r[0] == 1022] == []

    ok = secured.run(secured.legit, "approve", workflow_id, "--as", RAJ, "--reason", "photos")
    assert ok.returncode == 0, ok.stderr
    await secured.st.wait_pending(workflow_id, "notify_customer")
    assert [r[:2] for r in secured.st.refunds() if r[0] == 1022] == [(1022, "issued")]
    decided = (await secured.st.status(workflow_id)).decisions
    assert [(d.approver, d.verified, d.statement.key_id if d.statement else None) for d in decided] == [
        (RAJ, True, decided[0].statement.key_id if decided[0].statement else "?")
    ]
    assert status.requested_by == BOB


# ----------------------------------------------------------------- 3. kill and resume are names too


async def test_a_kill_needs_the_stop_go_owners_signature(secured: Secured) -> None:
    workflow_id = secured.start(1023)
    await secured.st.wait_pending(workflow_id, "issue_refund")
    forged = secured.run(
        secured.attacker, "temporal", "workflow", "signal", "--workflow-id", workflow_id, "--name", "kill",
        "--input", json.dumps({"by": "mandate-monitor", "reason": "x", "rollback": True}),
    )  # fmt: skip
    assert forged.returncode == 0, forged.stderr  # a signal cannot answer: the run records the refusal

    async def refused() -> Any:
        status = await secured.st.status(workflow_id)
        return [r for r in status.refused if r.kind == "kill"] or None

    (record,) = await eventually(refused, timeout=60, what="the forged kill to be refused")
    assert "a kill must be signed by the stop/go owner" in record.reason, record
    status = await secured.st.status(workflow_id)
    assert status.killed is None and status.state.value == "waiting_approval"

    line = _one_line(secured.run(secured.attacker, "kill", "refund-agent", "--as", SAM, "--reason", "x"))
    assert f"no signing key for {SAM}" in line, line
    line = _one_line(secured.run(secured.attacker, "resume", "refund-agent", "--as", SAM, "--reason", "x"))
    assert f"no signing key for {SAM}" in line, line


# ---------------------------------------------------------------------- 4. the pause is advisory


async def test_a_start_without_proof_or_while_paused_ends_at_once(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow_id = f"refund-agent-{uuid.uuid4().hex[:8]}"
    started = secured.run(
        secured.attacker, "temporal", "workflow", "start", "--type", "RefundAgent", "--task-queue", "mandate",
        "--workflow-id", workflow_id, "--input", json.dumps({"input": {"order_id": 1024, "reason": "x"}, "requested_by": BOB}),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    handle = (await secured.st.client()).get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert "refused to start: the start is not signed" in str(failed.value.cause), failed.value.cause
    assert [r for r in secured.st.refunds() if r[0] == 1024] == []

    killed = secured.run(secured.legit, "kill", "refund-agent", "--as", SAM, "--reason", "pausing for the test")
    assert killed.returncode == 0, killed.stderr
    try:
        line = _one_line(secured.run(secured.legit, "start", "refund-agent", "--input", '{"order_id": 1025}', "--requested-by", BOB))  # fmt: skip
        assert "is paused" in line, line
        from mandate.run import AgentRunInput
        from mandate.signer import Signer

        # Signed, but sent straight to Temporal, past `mandate start`'s check: the run itself refuses.
        order = {"order_id": 1025, "reason": "x"}
        run_id = f"refund-agent-{uuid.uuid4().hex[:8]}"
        with monkeypatch.context() as as_bob:  # bob's machine: his home and the risk owner's keys file
            as_bob.setenv("MANDATE_HOME", secured.legit["MANDATE_HOME"])
            as_bob.setenv("MANDATE_KEYS", secured.legit["MANDATE_KEYS"])
            start = Signer.of(BOB).start(namespace="default", agent="refund-agent", workflow_id=run_id, input=order)
        client = await secured.st.client()
        direct = await client.start_workflow(
            "RefundAgent", AgentRunInput(input=order, requested_by=BOB, start=start), id=run_id, task_queue="mandate"
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await direct.result()
        assert "refund-agent is paused" in str(failed.value.cause), failed.value.cause
    finally:
        resumed = secured.run(secured.legit, "resume", "refund-agent", "--as", SAM, "--reason", "test over")
        assert resumed.returncode == 0, resumed.stderr


# ------------------------------------------------------------------------ 5. gaming the metrics


@workflow.defn(name="Decoy")
class Decoy:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_runs_of_another_type_claiming_the_agent_are_not_counted(secured: Secured) -> None:
    client = await secured.st.client()
    before = json.loads(secured.run(secured.legit, "metrics", "--agent", "refund-agent", "--json").stdout)
    for _ in range(6):
        handle = await client.start_workflow(
            "Decoy",
            id=f"decoy-{uuid.uuid4().hex[:8]}",
            task_queue="decoys",
            search_attributes=TypedSearchAttributes([SearchAttributePair(AGENT_SA, "refund-agent")]),
        )
        await handle.terminate("decoy")
    after = json.loads(secured.run(secured.legit, "metrics", "--agent", "refund-agent", "--json").stdout)
    assert (after["runs"], after["exception_runs"]) == (before["runs"], before["exception_runs"]), (before, after)


async def _unsigned_refund(client: Client, n: int, claims: TypedSearchAttributes, **options: Any) -> Any:
    """A run of the agent's own type on Mandate's queue, started with the stock client: no signed start."""
    return await client.start_workflow(
        "RefundAgent",
        {"input": {"order_id": 1040 + n, "reason": "forged"}, "requested_by": BOB},
        id=f"refund-agent-unsigned-{uuid.uuid4().hex[:8]}",
        task_queue="mandate",
        search_attributes=claims,
        **options,
    )


async def test_unsigned_runs_of_the_agents_own_type_are_not_counted(secured: Secured) -> None:
    """The agent's own workflow type on Mandate's queue, started with the stock client and no signed start,
    claiming the agent and a violation: the worker refuses each (it fails), and the kill criteria count none
    of them, so they cannot trip the monitor into rolling the fleet back."""
    client = await secured.st.client()
    before = json.loads(secured.run(secured.legit, "metrics", "--agent", "refund-agent", "--json").stdout)
    claims = TypedSearchAttributes(
        [SearchAttributePair(AGENT_SA, "refund-agent"), SearchAttributePair(FLAGS_SA, ["violation"])]
    )
    for n in range(6):
        handle = await _unsigned_refund(client, n, claims)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    after = json.loads(secured.run(secured.legit, "metrics", "--agent", "refund-agent", "--json").stdout)
    counted = ("runs", "failed", "exception_runs")
    assert {k: after[k] for k in counted} == {k: before[k] for k in counted}, (before, after)
    assert after["unverified_runs"] == before["unverified_runs"] + 6, after
    shown = secured.run(secured.legit, "metrics", "--agent", "refund-agent")
    assert "run(s) claimed the agent with a start no worker verified" in shown.stdout, shown.stdout


async def test_a_cost_written_by_a_starter_no_worker_saw_is_not_added(secured: Secured) -> None:
    """Runs of the agent's type on Mandate's queue that claim a huge ``MandateCost`` and end before any
    worker sees them (a start delay, then terminated): their cost would trip ``max_cost_per_workflow`` and
    roll the fleet back; the metrics add none of it."""
    client = await secured.st.client()
    before = json.loads(secured.run(secured.legit, "metrics", "--agent", "refund-agent", "--json").stdout)
    claims = TypedSearchAttributes([SearchAttributePair(AGENT_SA, "refund-agent"), SearchAttributePair(COST_SA, 1e6)])
    for n in range(3):
        # a start delay: no worker gets a task before the run is terminated
        handle = await _unsigned_refund(client, n, claims, start_delay=timedelta(hours=1))
        await handle.terminate("costly decoy")

    async def counted() -> dict[str, Any] | None:
        after = json.loads(secured.run(secured.legit, "metrics", "--agent", "refund-agent", "--json").stdout)
        return after if after["unverified_runs"] == before["unverified_runs"] + 3 else None

    after = await eventually(counted, timeout=30, what="the decoys in visibility")
    assert (after["total_cost"], after["cost_per_completed"]) == (before["total_cost"], before["cost_per_completed"])


# -------------------------------------------------------------- 6 and 7. a decision bound to its run


async def test_a_signed_decision_counts_for_its_own_run_only(secured: Secured) -> None:
    """A rejected run that is reset waits again; an approval signed for it before the reset, or a name,
    cannot approve the reset run: a statement names the run id it was signed for."""
    first = secured.start(1026)
    await secured.st.wait_pending(first, "issue_refund")
    signed = secured.run(secured.legit, "sign", first, "--as", RAJ, "--decision", "approve", "--reason", "ok")
    assert signed.returncode == 0, signed.stderr
    statement = json.loads(signed.stdout)  # signed, kept, never sent
    assert statement["run_id"] and statement["signature"]
    rejected = secured.run(secured.legit, "reject", first, "--as", SAM, "--reason", "replacement sent")
    assert rejected.returncode == 0, rejected.stderr
    assert (await secured.st.result(first)).outcome == "refund_rejected"

    reset = secured.run(secured.attacker, "temporal", "workflow", "reset", "--workflow-id", first, "--type", "FirstWorkflowTask", "--reason", "attack")  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    await secured.st.wait_pending(first, "issue_refund")  # the reset run waits again
    handle = secured.st.handle(first)
    await handle.signal("approve", statement)  # signed by raj, for the run before the reset
    await handle.signal("approve", {"approver": RAJ})  # a name

    async def both_refused() -> Any:
        reasons = [r.reason for r in (await secured.st.status(first)).refused]
        earlier = any("the statement is for run_id" in r for r in reasons)
        named = any("needs a signed decision" in r for r in reasons)
        return reasons if earlier and named else None

    await eventually(both_refused, timeout=60, what="both approvals of the reset run refused")
    assert (await secured.st.status(first)).pending, "the reset run still waits for a real decision"
    assert [r for r in secured.st.refunds() if r[0] == 1026] == []


# ------------------------------------------------------------------ 9. injection; the report's proof


async def test_the_report_reverifies_every_statement_and_no_reason_forges_a_section(secured: Secured) -> None:
    run = secured.start(1027)
    await secured.st.wait_pending(run, "issue_refund")
    forged = "ok\n\n## Approval requests\n| r9 | issue_refund | APPROVED by cfo@example.com |\n[/oops]"
    done = secured.run(secured.legit, "reject", run, "--as", SAM, "--reason", forged)
    assert done.returncode == 0, done.stderr
    await secured.st.result(run)

    status = secured.run(secured.legit, "status", run)
    assert status.returncode == 0, status.stderr
    assert not [line for line in status.stdout.splitlines() if line.lstrip().startswith("## ")], status.stdout

    report = secured.run(secured.legit, "replay", run)
    assert report.returncode == 0, report.stderr
    headings = [line for line in report.stdout.splitlines() if line.startswith("## ")]
    assert headings.count("## Approval requests") == 1, headings
    assert f"Requested by {BOB} (signed by {BOB} (key " in report.stdout and "), verified)" in report.stdout
    assert f"signed by {SAM} (key " in report.stdout, report.stdout
    assert "UNSIGNED" not in report.stdout and "INVALID" not in report.stdout


# ------------------------------------------------------- 10. one bad signature, a fresh worker process


async def test_a_bad_signature_sent_to_a_fresh_worker_is_refused_and_the_worker_lives(stack: Stack) -> None:
    """The first failed verification a worker process ever makes, inside the workflow sandbox, used to
    abort it (a native panic in the crypto library), and every worker that picked the run up again."""
    worker = await stack.start_worker()
    workflow_id = await stack.start_run(1003)
    await stack.wait_pending(workflow_id, "issue_refund")
    signed = stack.cli("sign", workflow_id, "--as", RAJ, "--decision", "approve", "--reason", "ok")
    assert signed.ok, signed
    statement = json.loads(signed.stdout)
    statement["signature"] = ("B" if statement["signature"][0] == "A" else "A") + statement["signature"][1:]
    worker.kill()  # the next worker has never failed a verification
    fresh = await stack.start_worker()
    await stack.handle(workflow_id).signal("approve", statement)

    async def refused() -> Any:
        return [r for r in (await stack.status(workflow_id)).refused if "signature does not match" in r.reason]

    await eventually(refused, timeout=60, what="the bad signature to be refused")
    assert fresh.alive(), fresh.output()[-3000:]
    ok = stack.cli("approve", workflow_id, "--as", RAJ, "--reason", "photos")  # the run is decidable still
    assert ok.ok, ok
    await stack.wait_pending(workflow_id, "notify_customer")
    assert fresh.alive() and "panicked" not in fresh.output()


# ----------------------------------------------- 11. the worker's powers cannot be borrowed by a rogue run


@workflow.defn(name="Borrower")
class Borrower:
    """The attacker's own workflow on the attacker's own queue, calling one of Mandate's activities by name
    on Mandate's queue, as a regular activity."""

    @workflow.run
    async def run(self, call: dict[str, Any]) -> str:
        try:
            result = await workflow.execute_activity(
                call["activity"],
                call["input"],
                task_queue="mandate",
                start_to_close_timeout=timedelta(seconds=20),
                schedule_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return f"refused: {err.cause}"
        return f"ran: {json.dumps(result)}"


@workflow.defn(name="MandateMonitor")
class MonitorImpostor(Borrower):
    """Named like the monitor, at an id of the attacker's choosing (the real monitor holds its own)."""

    @workflow.run
    async def run(self, call: dict[str, Any]) -> str:
        return await super().run(call)


@workflow.defn(name="RefundAgent")
class UndoImpostor(Borrower):
    @workflow.run
    async def run(self, call: dict[str, Any]) -> str:
        return await super().run(call)


async def test_a_rogue_run_cannot_borrow_the_monitors_key_or_a_compensation(secured: Secured) -> None:
    """The monitor's enforcement activity signed a rollback with the monitor's key for any run its caller
    named and handed the statement back; a compensation undid any refund it was given. Now every system
    activity checks its caller against the server's record, and none returns a signed statement."""
    victim = secured.start(1031)
    await secured.st.wait_pending(victim, "issue_refund")
    ok = secured.run(secured.legit, "approve", victim, "--as", RAJ, "--reason", "photos")
    assert ok.returncode == 0, ok.stderr
    await secured.st.wait_pending(victim, "notify_customer")
    [(_, status, key)] = [r for r in secured.st.refunds() if r[0] == 1031]
    assert status == "issued"
    refund_id = secured.st._read(f"SELECT id FROM refunds WHERE idempotency_key = '{key}'")[0][0]

    client = await Client.connect(secured.st.address, data_converter=mandate_data_converter)
    queue = f"borrower-{uuid.uuid4().hex[:6]}"
    enforce = {
        "activity": "mandate.enforce_kill",
        "input": {"agent": "refund-agent", "action": "rollback", "by": "mandate-monitor", "reason": "x", "workflow": victim},
    }
    evaluate = {"activity": "mandate.compute_metrics", "input": {"agent": "refund-agent", "window_seconds": 3600}}
    load = {"activity": "mandate.load_mandate", "input": {"agent": "refund-agent"}}
    undo = {
        "activity": "reverse_refund",
        "input": {
            "agent": "refund-agent",
            "args": {"original": {"order_id": 1031, "amount_cents": 1, "reason": "x"}, "result": {"refund_id": refund_id, "order_id": 1031}},
            "idempotency_key": "whatever:undo",
        },
    }
    answers: dict[str, str] = {}
    async with Worker(
        client, task_queue=queue, workflows=[Borrower, MonitorImpostor, UndoImpostor], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        for name, kind, call in (
            ("enforce", "Borrower", enforce),
            ("enforce as a monitor", "MandateMonitor", enforce),
            ("evaluate", "MandateMonitor", evaluate),
            ("load", "Borrower", load),
            ("undo", "RefundAgent", undo),
        ):
            answers[name] = await client.execute_workflow(
                kind, call, id=f"borrow-{uuid.uuid4().hex[:8]}", task_queue=queue, result_type=str
            )
    assert all(a.startswith("refused:") for a in answers.values()), answers
    assert "runs only for MandateMonitor" in answers["enforce"], answers
    assert "runs only for mandate-monitor-refund-agent" in answers["enforce as a monitor"], answers
    assert "runs only for mandate-monitor-refund-agent" in answers["evaluate"], answers
    assert "runs only as a local activity" in answers["load"], answers
    assert "runs only for runs on task queue 'mandate'" in answers["undo"], answers
    assert [r[1] for r in secured.st.refunds() if r[0] == 1031] == ["issued"]
    assert (await secured.st.status(victim)).killed is None


# ------------------------------------------- 12. the approver signs the arguments shown, for a Mandate run


def _request(args: dict[str, Any], hashed: dict[str, Any]) -> dict[str, Any]:
    from mandate.statements import sha256_of

    now = "2026-01-01T00:00:00Z"
    return {
        "id": "r1", "step": 2, "tool": "issue_refund", "authority": "write", "args": args,
        "args_hash": sha256_of(hashed), "approvers": [RAJ, SAM], "requested_by": BOB,
        "requested_at": now, "deadline": "2099-01-01T00:00:00Z",
    }  # fmt: skip


@workflow.defn(name="RefundAgent")
class ShowsOneSignsAnother:
    """A run of the agent's type on the attacker's queue that looks waiting: Mandate's search attributes,
    a pending request in its queries. It keeps whatever it is sent."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.pending: list[dict[str, Any]] = []

    @workflow.run
    async def run(self, pending: list[dict[str, Any]]) -> None:
        self.pending = pending
        await workflow.wait_condition(lambda: False)

    @workflow.query(name="decision_context")
    def decision_context(self) -> dict[str, Any]:
        return {"run_id": workflow.info().run_id, "agent": "refund-agent", "state": "waiting_approval", "pending": self.pending}

    @workflow.query(name="pending_approvals")
    def pending_approvals(self) -> list[dict[str, Any]]:
        return self.pending

    @workflow.query(name="received")
    def got(self) -> list[Any]:
        return self.received

    @workflow.update(name="decide")
    def decide(self, payload: Any) -> Any:
        self.received.append(payload)
        return {"request_id": "r1", "kind": "approve", "approver": RAJ, "reason": "", "at": "2026-01-01T00:00:00Z", "channel": "update"}

    @workflow.signal(name="approve")
    def approve(self, payload: Any) -> None:
        self.received.append(payload)


async def test_an_impostor_run_gets_no_signature_and_a_hash_is_recomputed(secured: Secured) -> None:
    """A run of the agent's type on another queue showed a refund of an in-transit order and reported the
    hash of another; `mandate pending` listed it and `mandate approve` signed the hash it reported."""
    client = await Client.connect(secured.st.address, data_converter=mandate_data_converter)
    queue = f"impostor-{uuid.uuid4().hex[:6]}"
    shown = {"order_id": 1030, "amount_cents": 500, "reason": "arrived damaged"}
    hidden = {"order_id": 1010, "amount_cents": 99_999, "reason": "arrived damaged"}
    pending_sa = SearchAttributeKey.for_int("MandatePendingApprovals")
    claims = TypedSearchAttributes([SearchAttributePair(AGENT_SA, "refund-agent"), SearchAttributePair(pending_sa, 1)])
    async with Worker(client, task_queue=queue, workflows=[ShowsOneSignsAnother], workflow_runner=UnsandboxedWorkflowRunner()):
        ids = []
        for hashed in (hidden, shown):  # one hides its arguments, one is consistent but not Mandate's
            handle = await client.start_workflow(
                "RefundAgent", [_request(shown, hashed)], id=f"refund-agent-{uuid.uuid4().hex[:8]}",
                task_queue=queue, search_attributes=claims,
            )  # fmt: skip
            ids.append(handle.id)

        async def listed() -> Any:
            found = await client.count_workflows(f"WorkflowId = '{ids[1]}' AND MandatePendingApprovals > 0")
            return found.count

        await eventually(listed, timeout=30, what="the impostors in visibility")
        # the CLI runs in a thread: the impostor's worker lives in this test's event loop
        pending = json.loads((await asyncio.to_thread(secured.run, secured.legit, "pending", "--json")).stdout)
        assert not [p for p in pending if p["workflow_id"] in ids], pending
        for workflow_id in ids:
            for command in (["approve", workflow_id, "--as", RAJ, "--reason", "ok"], ["sign", workflow_id, "--as", RAJ, "--decision", "approve"]):
                line = _one_line(await asyncio.to_thread(secured.run, secured.legit, *command))
                assert f"on task queue '{queue}', not Mandate's 'mandate'" in line and "nothing was signed" in line, line
            got = await client.get_workflow_handle(workflow_id).query("received")
            assert got == [], got
        for workflow_id in ids:
            await client.get_workflow_handle(workflow_id).terminate("test over")


async def test_a_program_cannot_sign_a_hash_other_than_of_the_arguments_it_shows(secured: Secured) -> None:
    """``api.decide(context=...)`` signs what the program showed: a context whose arguments were changed
    after the run reported them (what the person saw is not what the hash covers) is refused."""
    from mandate import api
    from mandate.decisions import DecisionKind
    from mandate.errors import DecisionRefusedError

    workflow_id = secured.start(1032)
    await secured.st.wait_pending(workflow_id, "issue_refund")
    client = await secured.st.client()
    handle = client.get_workflow_handle(workflow_id)
    context = await api.decision_context(client, handle)
    [request] = context.pending
    shown = request.model_copy(update={"args": {**request.args, "amount_cents": 1}})
    altered = context.model_copy(update={"pending": [shown]})
    with pytest.MonkeyPatch.context() as as_raj:
        as_raj.setenv("MANDATE_HOME", secured.legit["MANDATE_HOME"])
        as_raj.setenv("MANDATE_KEYS", secured.legit["MANDATE_KEYS"])
        with pytest.raises(DecisionRefusedError) as refused:
            await api.decide(client, workflow_id, decision=DecisionKind.APPROVE, approver=RAJ, reason="ok", context=altered)
    assert "a hash that is not of the arguments it shows" in str(refused.value), refused.value
    status = await secured.st.status(workflow_id)
    assert status.decisions == [] and [p.id for p in status.pending] == [request.id]
    done = secured.run(secured.legit, "reject", workflow_id, "--as", SAM, "--reason", "test over")
    assert done.returncode == 0, done.stderr
