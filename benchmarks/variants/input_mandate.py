"""Ablation variant ``input-mandate``: the mandate comes in the input, not from a local activity."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.ablations import InputMandate
    from benchmarks.bench_agents import BenchPlanner
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent


@workflow.defn(name="BenchInputMandate")
class BenchInputMandate(InputMandate, GovernedAgent):
    agent = "bench-input-mandate"
    planner = BenchPlanner(notify=False)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)
