"""A model-backed agent on the real dev server: scripted pydantic-ai models propose, the charter disposes.

Each test registers its own scripted model (``tests/model_scripts.py``), serves the support agent with the
shipped charter pointed at it, and checks both sides: what the run did, and what the model was told.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic_ai.exceptions import (
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelServerError,
)
from pydantic_ai.messages import ModelResponse, ToolReturnPart
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from mandate import api
from mandate.charter import Charter
from mandate.contract import MODEL_STEP_ACTIVITY
from mandate.decisions import DecisionKind
from mandate.run import AgentStatus, RunState, StepStatus
from mandate.worker import build_worker
from mandate.workflows.support_agent import SupportAgent
from tests.helpers import finished, scheduled_activities, status_of, wait_pending
from tests.model_scripts import AGENT, Script, answer, call, calls, charters_with

# Each test refunds from a shop of its own: none depends on which orders an earlier test refunded.
pytestmark = pytest.mark.usefixtures("fresh_shop")

RAJ, QI, BOB = "raj@example.com", "qi@example.com", "bob@example.com"
ORDER = 1009  # looked up and written to by notify_customer only: never refunded here
NOTE = {"order_id": ORDER, "email": "customer9@example.com", "message": "Your order is on its way."}


async def start(client: Client, charters: dict[str, Charter], task_queue: str, workflow_id: str) -> WorkflowHandle:
    await api.start_agent(
        client,
        charters,
        AGENT,
        input={"order_id": ORDER, "message": "Where is my order?"},
        requested_by=BOB,
        task_queue=task_queue,
        workflow_id=workflow_id,
    )
    return client.get_workflow_handle_for(SupportAgent.run, workflow_id)


async def decide(client: Client, handle: WorkflowHandle, approver: str, *, approve: bool, reason: str, tq: str):
    kind = DecisionKind.APPROVE if approve else DecisionKind.REJECT
    await api.decide(client, handle.id, decision=kind, approver=approver, reason=reason, task_queue=tq)


def only(returns: list[ToolReturnPart]) -> ToolReturnPart:
    assert len(returns) == 1, returns
    return returns[0]


async def test_a_model_proposed_read_runs_and_the_model_reads_its_output(client, task_queue, workflow_id):
    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        if script.calls == 0:
            return call("lookup_order", {"order_id": ORDER}, text="Let me look.")
        return answer(f"Order {ORDER} is {only(returns).content['status']}.")

    script = Script(respond)
    charters = charters_with(script.model, input_token_price=1000.0, output_token_price=2000.0)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        result = await finished(handle)
        status = await status_of(handle)

    assert result.outcome == "answered" and result.summary.startswith(f"Order {ORDER} is delivered.")
    assert "2 model call(s)" in result.summary
    [step] = status.steps
    assert (step.tool, step.status, step.args) == ("lookup_order", StepStatus.COMPLETED, {"order_id": ORDER})
    assert step.why.startswith(f"{script.model} call 1 (") and step.why.endswith("out tokens): Let me look.")
    returned = only(script.seen[1])
    assert returned.outcome == "success" and returned.content["customer_email"] == step.result["customer_email"]
    # the model is offered what the charter does not block, and told how it is governed
    assert script.offered[0] == ["check_refund_policy", "issue_refund", "lookup_order", "notify_customer"]
    assert "Your tool calls are proposals" in (script.instructions[0] or "")
    assert "support agent of a small online shop" in (script.instructions[1] or "")
    # each model call is one activity, and its tokens are priced into the run's cost
    assert await scheduled_activities(handle) == [MODEL_STEP_ACTIVITY, "lookup_order", MODEL_STEP_ACTIVITY]
    assert result.cost > 0.001 + 0.05  # the lookup's declared cost, plus tokens at 1000 / 2000 per million


async def test_a_proposed_write_waits_for_a_person_then_the_model_gets_its_result(client, task_queue, workflow_id):
    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        if script.calls == 0:
            return call("notify_customer", NOTE)
        return answer(f"Sent notification {only(returns).content['notification_id']}.")

    script = Script(respond)
    charters = charters_with(script.model)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        status = await wait_pending(handle, "notify_customer")
        assert status.pending[0].args == NOTE and script.calls == 1  # nothing more asked while it waits
        await decide(client, handle, QI, approve=True, reason="reads well", tq=task_queue)
        result = await finished(handle)

    returned = only(script.seen[1])
    assert returned.outcome == "success" and result.summary.startswith(
        f"Sent notification {returned.content['notification_id']}."
    )


async def test_a_rejection_reaches_the_model_and_its_next_proposal_is_governed_again(client, task_queue, workflow_id):
    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        if script.calls == 0:
            return call("notify_customer", {**NOTE, "message": "ok"})
        if script.calls == 1:
            assert only(returns).outcome == "denied"
            return call("notify_customer", NOTE)
        return answer("Sent the longer message.")

    script = Script(respond)
    charters = charters_with(script.model)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        await wait_pending(handle, "notify_customer")
        await decide(client, handle, RAJ, approve=False, reason="too curt for a customer", tq=task_queue)
        status = await wait_pending(handle, "notify_customer")  # the model's next proposal waits again
        assert status.pending[0].args == NOTE
        await decide(client, handle, QI, approve=True, reason="better", tq=task_queue)
        result = await finished(handle)
        status = await status_of(handle)

    denied = only(script.seen[1])
    assert "rejected by raj@example.com" in denied.content and "too curt for a customer" in denied.content
    assert [s.status for s in status.steps] == [StepStatus.REJECTED, StepStatus.COMPLETED]
    assert status.rejections == 1 and result.outcome == "answered"


async def test_a_blocked_tool_is_refused_recorded_and_the_model_told(client, task_queue, workflow_id):
    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        if script.calls == 0:  # not offered, asked for by name anyway, with another call beside it
            return calls(("delete_customer", {"customer_id": 9}), ("lookup_order", {"order_id": ORDER}))
        return answer("I could not delete the account.")

    script = Script(respond)
    charters = charters_with(script.model)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        result = await finished(handle)
        status = await status_of(handle)

    assert "delete_customer" not in script.offered[0]
    blocked, looked = status.steps
    assert (blocked.tool, blocked.status) == ("delete_customer", StepStatus.BLOCKED)
    assert looked.status is StepStatus.COMPLETED  # a response's calls are each governed, in order
    refusal, output = script.seen[1]
    assert refusal.outcome == "failed" and "not run: policy violation: delete_customer: blocked by the charter" in refusal.content
    assert output.outcome == "success"
    assert status.violations == 1 and result.outcome == "answered"
    assert await scheduled_activities(handle) == [MODEL_STEP_ACTIVITY, "lookup_order", MODEL_STEP_ACTIVITY]


async def test_invalid_arguments_go_back_to_the_model_and_never_to_a_person(client, task_queue, workflow_id):
    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        if script.calls == 0:
            return calls(
                ("lookup_order", {"order_id": "the one from last week"}),
                ("notify_customer", {**NOTE, "message": ""}),  # needs approval, but is not valid
                ("lookup_order", '{"order_id": '),  # not JSON at all
            )
        if script.calls == 1:
            assert [r.outcome for r in returns] == ["retried"] * 3
            return call("lookup_order", {"order_id": str(ORDER)})  # coerced to what the tool takes
        return answer("Found it.")

    script = Script(respond)
    charters = charters_with(script.model)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        result = await finished(handle)
        status = await status_of(handle)

    assert result.outcome == "answered"
    assert [s.status for s in status.steps] == [StepStatus.INVALID] * 3 + [StepStatus.COMPLETED]
    assert "order_id: Input should be a valid integer" in (status.steps[0].error or "")
    assert "message: String should have at least 1 character" in (status.steps[1].error or "")
    assert status.steps[2].error == "invalid arguments: the arguments are not valid JSON"
    assert status.steps[3].args == {"order_id": ORDER}
    assert status.requests == [] and status.violations == 0  # nothing was put to a person
    said = script.seen[1][0].model_response_str()
    assert "order_id: Input should be a valid integer" in said and "arguments that fit its schema" in said


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ({"max_model_calls": 3}, "the charter allows 3 model calls per run (model.max_model_calls)"),
        ({"max_tokens": 150}, "the charter allows 150 tokens per run (model.max_tokens)"),
    ],
)
async def test_a_model_that_keeps_proposing_is_stopped_at_the_charters_limit(
    client, task_queue, workflow_id, limits: dict[str, Any], reason: str
):
    script = Script(lambda script, returns: call("lookup_order", {"order_id": ORDER}))
    charters = charters_with(script.model, **limits)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        with pytest.raises(WorkflowFailureError) as failure:
            await finished(handle)
        status = await status_of(handle)

    assert status.outcome == "model_limit" and reason in (status.summary or "")
    assert "model_limit" in str(failure.value.cause)
    assert script.calls == len(status.steps) and script.calls < 10
    assert status.state is RunState.FAILED and status.cost > 0


async def test_provider_errors_are_retried_honouring_retry_after(client, task_queue, workflow_id):
    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        attempt = len(script.attempts)
        if attempt == 1:
            raise ModelHTTPError.for_category(ModelServerError, status_code=503, model_name=script.model)
        if attempt == 2:
            raise ModelHTTPError.for_category(
                ModelRateLimitError, status_code=429, model_name=script.model, headers={"Retry-After": "3"}
            )
        return answer("Fine after all.")

    script = Script(respond)
    charters = charters_with(script.model)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        result = await finished(handle)

    assert result.outcome == "answered" and len(script.attempts) == 3
    # What the history recorded, not how long this machine took: the step's retry policy (2 s, doubling,
    # so 4 s before the third attempt), and the delay the failure before the third attempt asked for in its
    # place, the provider's Retry-After.
    events = [e async for e in handle.fetch_history_events()]
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    steps = [
        e.activity_task_started_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and scheduled[e.activity_task_started_event_attributes.scheduled_event_id].activity_type.name
        == MODEL_STEP_ACTIVITY
    ]
    first = steps[0]
    policy = scheduled[first.scheduled_event_id].retry_policy
    assert (policy.initial_interval.ToTimedelta(), policy.backoff_coefficient) == (timedelta(seconds=2), 2.0)
    assert first.attempt == 3, first
    failure = first.last_failure.application_failure_info
    assert "429" in first.last_failure.message and failure.next_retry_delay.ToTimedelta() == timedelta(seconds=3)
    # Lower bounds only: a busy machine makes a wait longer, never shorter.
    first_wait, second_wait = (b - a for a, b in zip(script.attempts, script.attempts[1:], strict=False))
    assert first_wait >= 1.9 and second_wait >= 2.9


async def test_a_refused_request_fails_the_run_with_its_reason_and_no_key(client, task_queue, workflow_id, monkeypatch):
    secret = "sk-test-THIS-KEY-MUST-NOT-LEAK-0123456789"
    monkeypatch.setenv("MANDATE_TEST_API_KEY", secret)

    def respond(script: Script, returns: list[ToolReturnPart]) -> ModelResponse:
        raise ModelHTTPError.for_category(
            ModelRequestRejectedError,
            status_code=400,
            model_name=script.model,
            body={"error": f"context too long for key {secret}"},
        )

    script = Script(respond)
    charters = charters_with(script.model)
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start(client, charters, task_queue, workflow_id)
        with pytest.raises(WorkflowFailureError):
            await finished(handle)
        status: AgentStatus = await status_of(handle)
        history = (await handle.fetch_history()).to_json()

    assert len(script.attempts) == 1  # a bad request is not retried
    assert status.outcome == "model_error"
    assert "status_code: 400" in (status.summary or "") and "context too long" in (status.summary or "")
    assert secret not in history and secret not in json.dumps(status.model_dump(mode="json"))
    assert "[MANDATE_TEST_API_KEY redacted]" in (status.summary or "")

