"""Ablation variant ``no-timer``: the approval waits without a timeout timer."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.ablations import NoTimer
    from benchmarks.bench_agents import BenchPlanner
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent


@workflow.defn(name="BenchNoTimer")
class BenchNoTimer(NoTimer, GovernedAgent):
    agent = "bench-no-timer"
    planner = BenchPlanner(notify=False)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)
