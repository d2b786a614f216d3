"""`mandate.api.decide` when the server's reply is lost: the run, not the reply, says what was decided.

A client interceptor loses the reply (the fault a busy server produced in a CI run of the load
test); the server, the worker and the update are real.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    WorkflowQueryFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from mandate import api
from mandate.api.decide import older_worker
from mandate.charter import Charter
from mandate.contract import Query
from mandate.decisions import Channel, DecisionKind
from mandate.errors import DecisionRefusedError
from mandate.worker import build_worker
from tests.helpers import start_refund, status_of, wait_pending

# Each test refunds from a shop of its own: none depends on which orders an earlier test refunded.
pytestmark = pytest.mark.usefixtures("fresh_shop")

RAJ = "raj@example.com"
COMPLETED = "workflow execution already completed"


class LoseReplies(Interceptor):
    """Every update goes to the server (``applied``) or not, and its reply is lost either way."""

    def __init__(self, *, applied: bool) -> None:
        self.applied = applied

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        outer = self

        class _Lose(OutboundInterceptor):
            async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
                if outer.applied:
                    handle = await super().start_workflow_update(input)
                    await handle.result()
                raise RPCError(COMPLETED, RPCStatusCode.FAILED_PRECONDITION, b"")

        return _Lose(next)


def lossy(client: Client, *, applied: bool) -> Client:
    return Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[LoseReplies(applied=applied)],
    )


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str, charters: dict[str, Charter]) -> Worker:
    return build_worker(client, task_queue=task_queue, charters=charters)


async def test_an_applied_decision_whose_reply_is_lost_is_reported_as_taken(client, worker, task_queue, workflow_id):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1046)
        await wait_pending(handle, "issue_refund")
        decision = await api.decide(
            lossy(client, applied=True), workflow_id, decision=DecisionKind.APPROVE, approver=RAJ, reason="ok",
            task_queue=task_queue,
        )
        status = await wait_pending(handle, "notify_customer")
    assert (decision.request_id, decision.approver, decision.channel) == ("r1", RAJ, Channel.UPDATE)
    assert [d.update_id for d in status.decisions] == [decision.update_id]


async def test_a_decision_that_never_arrived_is_refused_saying_the_run_has_not_recorded_it(
    client, worker, task_queue, workflow_id
):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1047)
        await wait_pending(handle, "issue_refund")
        with pytest.raises(DecisionRefusedError) as caught:
            await api.decide(
                lossy(client, applied=False), workflow_id, decision=DecisionKind.APPROVE, approver=RAJ,
                task_queue=task_queue,
            )
        status = await status_of(handle)
    assert str(caught.value) == f"Temporal refused the decision: {COMPLETED}; the run has not recorded it"
    assert status.decisions == [] and [r.id for r in status.pending] == ["r1"]


@workflow.defn(name="WorkerFromBeforeDecisionContext", sandboxed=False)
class _WithoutDecisionContext:
    """Stands for a run served by a Mandate worker from before the ``decision_context`` query."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_a_worker_without_the_decision_context_query_is_told_apart_from_one_that_fails(
    client, task_queue, workflow_id
):
    """`mandate approve` asks an older worker the old way; only this SDK answer means "no such query"."""
    async with Worker(client, task_queue=task_queue, workflows=[_WithoutDecisionContext]):
        handle = await client.start_workflow(_WithoutDecisionContext.run, id=workflow_id, task_queue=task_queue)
        with pytest.raises(WorkflowQueryFailedError) as failed:
            await handle.query(Query.DECISION_CONTEXT)
        assert older_worker(failed.value), str(failed.value)
        with pytest.raises(WorkflowQueryFailedError) as other:
            await handle.query("status")
        assert not older_worker(other.value), str(other.value)
        await handle.terminate("test finished")


async def test_a_program_decides_on_the_context_it_read_without_asking_the_run_again(
    client, worker, task_queue, workflow_id
):
    """What an approving program shows a person is what it signs: ``decide(context=...)``."""
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1013)
        await wait_pending(handle, "issue_refund")
        context = await api.decision_context(client, handle, task_queue=task_queue)
        [request] = context.pending
        decision = await api.decide(
            client, workflow_id, decision=DecisionKind.REJECT, approver=RAJ, reason="wrong item", context=context,
            task_queue=task_queue,  # the worker's: a run on any other queue than Mandate's is not signed for
        )
        status = await status_of(handle)
    assert (decision.request_id, decision.approver, decision.channel) == (request.id, RAJ, Channel.UPDATE)
    [recorded] = status.decisions
    assert (recorded.request_id, recorded.kind, recorded.verified) == (request.id, DecisionKind.REJECT, True)


async def test_a_decision_on_a_context_read_before_the_request_was_decided_is_refused(
    client, worker, task_queue, workflow_id
):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1044)
        await wait_pending(handle, "issue_refund")
        stale = await api.decision_context(client, handle, task_queue=task_queue)
        await api.decide(client, workflow_id, decision=DecisionKind.REJECT, approver=RAJ, reason="not this one", task_queue=task_queue)
        with pytest.raises(DecisionRefusedError) as caught:
            await api.decide(
                client, workflow_id, decision=DecisionKind.APPROVE, approver=RAJ, context=stale, task_queue=task_queue
            )
        status = await status_of(handle)
    # refused by the run (r1 is decided) or, once the rejection has ended it, by Temporal: one line either way
    message = str(caught.value)
    assert "\n" not in message and ("r1" in message or "nothing left to decide" in message), message
    assert [(d.request_id, d.kind.value) for d in status.decisions] == [("r1", "reject")]
    assert all(s.status.value != "completed" for s in status.steps if s.tool == "issue_refund")
