"""The refund agent as a code change would leave it, for `mandate replay` to hold a recorded run against.

``RefundAgentPolicyFirst`` checks the refund policy before it looks the order up: replayed against a
history the demo agent recorded (its workflow type renamed to this one, since the installed
``RefundAgent`` keeps its own name), its first call is not the one the history has. The others leave
the history other ways: a blocked call first, an early end, one call more. Loaded as
``--app tests.changed_agents`` from the repository's root.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.app import MandateApp
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent
    from mandate.workflows.planner import Finish, PlanContext, ToolProposal
    from mandate.workflows.refund_agent import RefundPlanner


class PolicyFirstPlanner(RefundPlanner):
    """The demo's planner with its first two calls swapped."""

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        if context.last("check_refund_policy") is None:
            args = {"order_id": context.input.get("order_id"), "reason": str(context.input.get("reason", ""))}
            return ToolProposal(tool="check_refund_policy", args=args, why="is it refundable?")
        return await super().propose(context)


@workflow.defn(name="RefundAgentPolicyFirst")
class RefundAgentPolicyFirst(GovernedAgent):
    agent = "refund-agent"
    planner = PolicyFirstPlanner()

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


class DeleteFirstPlanner(RefundPlanner):
    """Asks for a tool no one registered before anything else: blocked, and recorded as a violation."""

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        if context.last("delete_user") is None:
            return ToolProposal(tool="delete_user", args={}, why="tidy up")
        return await super().propose(context)


class StopEarlyPlanner(RefundPlanner):
    """Ends the run once the order is looked up."""

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        if context.last("lookup_order") is not None:
            return Finish(outcome="looked_up", summary="looked the order up")
        return await super().propose(context)


class OneMorePlanner(RefundPlanner):
    """Looks the order up once more where the demo agent finished."""

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        proposal = await super().propose(context)
        if isinstance(proposal, Finish) and len(context.steps) == 4:
            return ToolProposal(tool="lookup_order", args={"order_id": context.input.get("order_id")}, why="again")
        return proposal


@workflow.defn(name="RefundAgentDeleteFirst")
class RefundAgentDeleteFirst(GovernedAgent):
    agent = "refund-agent"
    planner = DeleteFirstPlanner()

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentStopEarly")
class RefundAgentStopEarly(GovernedAgent):
    agent = "refund-agent"
    planner = StopEarlyPlanner()

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentOneMore")
class RefundAgentOneMore(GovernedAgent):
    agent = "refund-agent"
    planner = OneMorePlanner()

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


CHANGED = [RefundAgentPolicyFirst, RefundAgentDeleteFirst, RefundAgentStopEarly, RefundAgentOneMore]
app = MandateApp(agents=CHANGED)
