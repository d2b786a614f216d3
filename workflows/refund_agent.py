"""The demo agent: refunds orders that the refund policy allows, after a person approves."""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.activities import shop  # noqa: F401  (registers the shop's tools)
    from mandate.app import MandateApp
    from mandate.run import AgentResult, AgentRunInput, StepStatus
    from mandate.workflows.governed import GovernedAgent
    from mandate.workflows.planner import Finish, PlanContext, ToolProposal

__all__ = ["RefundAgent", "RefundPlanner", "app"]

_DELETION_WORDS = (
    "delete my account",
    "delete account",
    "close my account",
    "remove my account",
    "erase my data",
)


class RefundPlanner:
    """Rule-based: look the order up, check the policy, refund, tell the customer."""

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        order_id = context.input.get("order_id")
        reason = str(context.input.get("reason", "")).strip()
        if not isinstance(order_id, int) or isinstance(order_id, bool):
            return Finish(outcome="invalid_input", summary="input needs an integer order_id", failed=True)

        lookup = context.last("lookup_order")
        if lookup is None:
            return ToolProposal(tool="lookup_order", args={"order_id": order_id}, why="find the order")
        if lookup.status is not StepStatus.COMPLETED or lookup.result is None:
            return Finish(outcome="failed", summary=f"lookup_order failed: {lookup.error}", failed=True)
        order = lookup.result
        if not order.get("found"):
            return Finish(outcome="order_not_found", summary=f"order {order_id} does not exist")

        if any(w in reason.lower() for w in _DELETION_WORDS) and context.last("delete_customer") is None:
            return ToolProposal(
                tool="delete_customer",
                args={"customer_id": order["customer_id"]},
                why="the customer asked for their account to be deleted",
            )

        policy = context.last("check_refund_policy")
        if policy is None:
            return ToolProposal(
                tool="check_refund_policy",
                args={"order_id": order_id, "reason": reason},
                why="is it refundable?",
            )
        if policy.status is not StepStatus.COMPLETED or policy.result is None:
            return Finish(
                outcome="failed", summary=f"check_refund_policy failed: {policy.error}", failed=True
            )

        if not policy.result["eligible"]:
            return self._notify_or_finish(
                context,
                order,
                message=f"We are sorry: order {order_id} cannot be refunded ({policy.result['explanation']}).",
                outcome="declined",
                summary=f"order {order_id} is not eligible: {policy.result['explanation']}",
            )

        refund = context.last("issue_refund")
        if refund is None:
            return ToolProposal(
                tool="issue_refund",
                args={
                    "order_id": order_id,
                    "amount_cents": policy.result["refundable_cents"],
                    "reason": reason,
                },
                why=policy.result["explanation"],
            )
        if refund.status is StepStatus.REJECTED:
            return Finish(outcome="refund_rejected", summary=f"refund of order {order_id} {refund.error}")
        if refund.status is not StepStatus.COMPLETED or refund.result is None:
            return Finish(outcome="failed", summary=f"issue_refund failed: {refund.error}", failed=True)

        amount = refund.result["amount_cents"] / 100
        return self._notify_or_finish(
            context,
            order,
            message=f"Your refund of ${amount:.2f} for order {order_id} has been issued.",
            outcome="refunded",
            summary=f"refunded ${amount:.2f} for order {order_id} (refund {refund.result['refund_id']})",
        )

    def _notify_or_finish(
        self, context: PlanContext, order: dict, *, message: str, outcome: str, summary: str
    ) -> ToolProposal | Finish:
        notice = context.last("notify_customer")
        if notice is None:
            return ToolProposal(
                tool="notify_customer",
                args={"order_id": order["order_id"], "email": order["customer_email"], "message": message},
                why="tell the customer",
            )
        if notice.status is not StepStatus.COMPLETED:
            return Finish(outcome=outcome, summary=f"{summary}; customer not notified ({notice.error})")
        return Finish(outcome=outcome, summary=f"{summary}; customer notified")


@workflow.defn(name="RefundAgent")
class RefundAgent(GovernedAgent):
    agent = "refund-agent"
    planner = RefundPlanner()

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


#: Mandate's demo agent, plugged in like any user's: through the ``mandate.agents`` entry point in
#: pyproject.toml. Its charter ships inside the package, so a wheel-only install runs ``mandate demo``.
app = MandateApp(agents=[RefundAgent], charters=Path(__file__).parent.parent / "charters")
