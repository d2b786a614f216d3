"""An agent whose planner is an activity of its own (``ActivityPlanner``), as docs/planners.md's adapter is:
the activity reads the whole ``PlanContext`` (the tool catalogue with schemas, the [model] section, every
step) and answers one proposal. Here a stand-in for a provider client decides, so the test needs no network."""

from __future__ import annotations

from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent
    from mandate.workflows.planner import ActivityPlanner, Finish, PlanContext, ToolProposal

#: What the last call of the step saw, for the test to read (the worker runs in the test's process).
SEEN: list[PlanContext] = []


@activity.defn(name="tests.provider_step")
async def provider_step(context: PlanContext) -> dict[str, Any]:
    SEEN.append(context)
    assert context.model is not None  # the charter's [model]: the model string, prompt and limits
    if len(context.steps) >= context.model.max_model_calls:
        return {"proposal": Finish(outcome="model_limit", summary="too many calls", failed=True).model_dump()}
    if context.last("lookup_order") is None:
        offered = {t.name: t for t in context.offered()}
        assert "delete_customer" not in offered and offered["lookup_order"].args_schema is not None
        proposal = ToolProposal(tool="lookup_order", args={"order_id": context.input["order_id"]}, cost=0.25)
        return {"proposal": proposal.model_dump()}
    found = context.last("lookup_order")
    assert found is not None and found.result is not None
    return {"proposal": Finish(outcome="done", summary=f"status {found.result['status']}", cost=0.5).model_dump()}


@workflow.defn(name="ActivityPlannedAgent")
class ActivityPlannedAgent(GovernedAgent):
    agent = "support-agent"
    planner = ActivityPlanner(provider_step)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RogueModelCaller")
class RogueModelCaller:
    """Not an agent: a workflow on another worker that asks the agents' task queue for a model call."""

    @workflow.run
    async def run(self, task_queue: str, model: str) -> str:
        from datetime import timedelta

        from temporalio.common import RetryPolicy
        from temporalio.exceptions import ActivityError

        with workflow.unsafe.imports_passed_through():
            from mandate.contract import MODEL_STEP_ACTIVITY
            from mandate.model_calls import ModelStepInput, ModelStepResult

        step = ModelStepInput(agent="support-agent", model=model, instructions="", tools=[], prompt="hello")
        try:
            await workflow.execute_activity(
                MODEL_STEP_ACTIVITY,
                step,
                result_type=ModelStepResult,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return str(err.cause)
        return "the model answered"
