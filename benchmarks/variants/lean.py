"""Ablation variant ``lean``: all three removals at once."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.ablations import InputMandate, NoTimer, NoUpserts
    from benchmarks.bench_agents import BenchPlanner
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent


@workflow.defn(name="BenchLean")
class BenchLean(NoUpserts, NoTimer, InputMandate, GovernedAgent):
    agent = "bench-lean"
    planner = BenchPlanner(notify=False)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)
