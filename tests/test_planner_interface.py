"""The planner interface beyond ModelPlanner: a planner's own activity (the adapter pattern of
docs/planners.md), and who may use the worker's model step."""

from __future__ import annotations

import pytest

from mandate import api
from mandate.worker import build_worker
from tests.helpers import finished
from tests.model_scripts import AGENT, Script, answer, charters_with

# Each test refunds from a shop of its own: none depends on which orders an earlier test refunded.
pytestmark = pytest.mark.usefixtures("fresh_shop")

BOB = "bob@example.com"
ORDER = 1009


async def test_an_activity_planner_brings_its_own_activity_and_reads_the_catalogue(client, task_queue, workflow_id):
    """The adapter pattern of docs/planners.md: build_worker registers the planner's activity with its agent,
    which reads the tools (schemas included, blocked ones not offered) and the [model] section, and whose
    proposals carry what planning cost."""
    from tests.planner_agents import SEEN, ActivityPlannedAgent

    charter = charters_with("openai:gpt-4o-mini")[AGENT]
    charters = {AGENT: charter.model_copy(update={"workflow": "ActivityPlannedAgent"})}
    SEEN.clear()
    workflows = {"ActivityPlannedAgent": ActivityPlannedAgent}
    async with build_worker(client, task_queue=task_queue, charters=charters, workflows=workflows):  # type: ignore[dict-item]
        await api.start_agent(
            client, charters, AGENT, input={"order_id": ORDER}, requested_by=BOB, task_queue=task_queue, workflow_id=workflow_id
        )
        result = await finished(client.get_workflow_handle_for(ActivityPlannedAgent.run, workflow_id))

    assert result.outcome == "done" and result.summary == "status delivered"
    assert result.cost == pytest.approx(0.25 + 0.001 + 0.5)  # planning's cost, the lookup's, planning's
    assert len(SEEN) == 2 and SEEN[0].model is not None and SEEN[0].model.model == "openai:gpt-4o-mini"


async def test_only_a_served_model_backed_agent_may_spend_the_workers_model(client, task_queue, workflow_id):
    """A workflow that is not the agent (here on a worker of its own) cannot use the agents' model step."""
    from temporalio.worker import Worker

    from tests.planner_agents import RogueModelCaller

    script = Script(lambda script, returns: answer("hello"))
    charters = charters_with(script.model)
    async with (
        build_worker(client, task_queue=task_queue, charters=charters),
        Worker(client, task_queue=f"{task_queue}-rogue", workflows=[RogueModelCaller]),
    ):
        said = await client.execute_workflow(
            RogueModelCaller.run, args=[task_queue, script.model], id=workflow_id, task_queue=f"{task_queue}-rogue"
        )
    assert "'RogueModelCaller' is not a model-backed agent this worker serves" in said
    assert script.attempts == []
