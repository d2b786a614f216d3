"""The benchmark's governed agents and their charters (built in code, shaped like charters/refund-agent.toml).

``BenchAgent`` does exactly the raw workflow's work: ``lookup_order``, ``check_refund_policy``,
``issue_refund`` (needs approval), then finishes: no ``notify_customer`` step, so both sides of the
overhead comparison do the same reads and the same write.

``BenchKillAgent`` (in ``kill_agent.py``) adds ``notify_customer`` (needs approval) after the refund, so that a run can hold
one completed, compensable write while it waits: that is what the kill benchmark rolls back.

Each workflow class has a module of its own, as ``RefundAgent`` has: the workflow sandbox runs a
workflow's module again for every run, ``@workflow.defn`` included, so a second class in the module
would be paid for by every run.

Unlike the demo's ``RefundPlanner``, neither planner stops on the policy's answer (so that both sides
always do the same three steps). Every run refunds an order of its own: the harness seeds the
benchmark's orders from 100001 in its private shop database, since the shop refunds an order once.

The worker serves them as it serves any user's agents: through the ``MandateApp`` in
``benchmarks/app.py``, loaded as ``mandate worker --app benchmarks.app:app`` would load it.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.charter import Charter
    from mandate.run import AgentResult, AgentRunInput, StepStatus
    from mandate.workflows.governed import GovernedAgent
    from mandate.workflows.planner import Finish, PlanContext, ToolProposal

__all__ = [
    "BenchPlanner",
    "BenchAgent",
    "BENCH_AGENT",
    "KILL_AGENT",
    "INPUT_MANDATE_AGENT",
    "APPROVER",
    "STOP_GO",
    "REQUESTED_BY",
    "bench_charters",
]

BENCH_AGENT = "bench-agent"
KILL_AGENT = "bench-kill-agent"
INPUT_MANDATE_AGENT = "bench-input-mandate"  # the ``--profile`` variant (benchmarks/ablations.py)
APPROVER = "raj@example.com"
STOP_GO = "sam@example.com"
REQUESTED_BY = "bench@example.com"


class BenchPlanner:
    """lookup_order -> check_refund_policy -> issue_refund [-> notify_customer] -> Finish."""

    def __init__(self, *, notify: bool) -> None:
        self.notify = notify

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        order_id = context.input["order_id"]
        reason = str(context.input.get("reason", "benchmark"))
        lookup = context.last("lookup_order")
        if lookup is None:
            return ToolProposal(tool="lookup_order", args={"order_id": order_id}, why="find the order")
        if lookup.status is not StepStatus.COMPLETED or not lookup.result or not lookup.result.get("found"):
            return Finish(outcome="failed", summary=f"lookup_order: {lookup.error}", failed=True)
        if context.last("check_refund_policy") is None:
            return ToolProposal(
                tool="check_refund_policy", args={"order_id": order_id, "reason": reason}, why="policy"
            )
        # The policy's answer is deliberately not used (see the module docstring).
        refund = context.last("issue_refund")
        if refund is None:
            return ToolProposal(
                tool="issue_refund",
                args={"order_id": order_id, "amount_cents": lookup.result["amount_cents"], "reason": reason},
                why="benchmark refund",
            )
        if refund.status is not StepStatus.COMPLETED:
            return Finish(outcome=f"refund_{refund.status.value}", summary=refund.error or "")
        if self.notify and context.last("notify_customer") is None:
            return ToolProposal(
                tool="notify_customer",
                args={
                    "order_id": order_id,
                    "email": lookup.result["customer_email"],
                    "message": f"Your refund for order {order_id} has been issued.",
                },
                why="tell the customer",
            )
        return Finish(outcome="refunded", summary=f"refunded order {order_id}")


@workflow.defn(name="BenchAgent")
class BenchAgent(GovernedAgent):
    agent = BENCH_AGENT
    planner = BenchPlanner(notify=False)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


def _charter(name: str, workflow_type: str, kill_criteria: dict[str, Any]) -> Charter:
    """charters/refund-agent.toml, as a dict, with the name and workflow changed."""
    approve = {"policy": "approve", "approval_timeout": "4h", "escalate_to": ["cfo@example.com"]}
    return Charter.model_validate(
        {
            "name": name,
            "workflow": workflow_type,
            "description": "Benchmark copy of the refund agent.",
            "owners": {
                "workflow": "ana@example.com",
                "risk": APPROVER,
                "quality": "qi@example.com",
                "stop_go": STOP_GO,
            },
            "tools": {
                "lookup_order": {"policy": "allow"},
                "check_refund_policy": {"policy": "allow"},
                "issue_refund": {**approve, "approvers": [APPROVER, STOP_GO]},
                "notify_customer": {**approve, "approvers": [APPROVER, STOP_GO, "qi@example.com"]},
                "delete_customer": {"policy": "block"},
            },
            "kill_criteria": kill_criteria,
        }
    )


def bench_charters(*, profile: bool = False) -> dict[str, Charter]:
    """The benchmark's charters; with ``profile``, also the ablation variant's (benchmarks/ablations.py)."""
    shipped = {
        "window": "1h",
        "min_samples": 20,
        "max_exception_rate": 0.10,
        "max_rework_rate": 0.25,
        "max_escalation_rate": 0.30,
        "max_cost_per_workflow": 0.50,
        "action": "rollback",
        "check_every": "30s",
    }
    # The kill benchmark's monitor must act only on the benchmark's own kill, never on a breach,
    # and must not evaluate metrics while it is being timed.
    kill_only = {**shipped, "min_samples": 1_000_000_000, "check_every": "24h"}
    charters = {
        BENCH_AGENT: _charter(BENCH_AGENT, "BenchAgent", shipped),
        KILL_AGENT: _charter(KILL_AGENT, "BenchKillAgent", kill_only),
    }
    if profile:
        charters[INPUT_MANDATE_AGENT] = _charter(INPUT_MANDATE_AGENT, "BenchInputMandate", shipped)
    return charters
