"""The model-backed demo agent: its model reads a customer's message and decides what to do with the shop's
tools; its charter decides what of that may happen.

Input: ``{"order_id": 1005, "message": "..."}``. The model is the charter's ``[model]`` (a real provider
when its key is set), or ``scripted:support`` (``mandate.activities.support_script``) offline, chosen with
``MANDATE_MODEL_SUPPORT_AGENT=scripted:support`` or by ``mandate demo`` when no key is set.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.activities import (
        shop,  # noqa: F401  (registers the shop's tools)
        support_script,  # noqa: F401  (registers scripted:support)
    )
    from mandate.app import MandateApp
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent
    from mandate.workflows.model_planner import ModelPlanner
    from mandate.workflows.planner import PlanContext

__all__ = ["SupportAgent", "SupportPlanner", "app"]


class SupportPlanner(ModelPlanner):
    """The customer's message, with the order it is about, is what the model reads first."""

    def prompt(self, context: PlanContext) -> str:
        order = context.input.get("order_id")
        message = str(context.input.get("message", "")).strip() or "(no message)"
        about = f"A customer writes about order {order}:" if order is not None else "A customer writes:"
        return f"{about}\n{message}"


@workflow.defn(name="SupportAgent")
class SupportAgent(GovernedAgent):
    agent = "support-agent"
    planner = SupportPlanner(outcome="answered")
    tools = ("lookup_order", "check_refund_policy", "issue_refund", "notify_customer", "delete_customer")

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


#: Plugged in by the ``support-agent`` entry point in pyproject.toml. Its charter ships beside the refund
#: agent's, in the folder the refund agent's app names, so this app names no folder of its own.
app = MandateApp(agents=[SupportAgent], name="support-agent")
