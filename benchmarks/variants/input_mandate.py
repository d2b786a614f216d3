"""Ablation variant ``input-mandate``: the mandate comes in the run's input, not from a local activity.

It goes through the one documented subclass hook, ``GovernedAgent._load_mandate``, and keeps its
own state (``bench_mandate``): it reads and writes nothing private of ``GovernedAgent``.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.ablations import MANDATE_KEY
    from benchmarks.bench_agents import INPUT_MANDATE_AGENT, BenchPlanner
    from mandate.run import AgentMandate, AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent

__all__ = ["BenchInputMandate"]


@workflow.defn(name="BenchInputMandate")
class BenchInputMandate(GovernedAgent):
    agent = INPUT_MANDATE_AGENT
    planner = BenchPlanner(notify=False)
    bench_mandate: dict[str, Any]

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        # taken out of the input before the planner sees it, so the planner's context is the usual one
        self.bench_mandate = run_input.input.pop(MANDATE_KEY)
        return await self.govern(run_input)

    async def _load_mandate(self) -> AgentMandate:
        """The hook: the charter and tools from the input (no local activity, no marker)."""
        return AgentMandate.model_validate(self.bench_mandate)
