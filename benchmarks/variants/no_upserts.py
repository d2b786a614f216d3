"""Ablation variant ``no-upserts``: no search-attribute upserts during the run."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.ablations import NoUpserts
    from benchmarks.bench_agents import BenchPlanner
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent


@workflow.defn(name="BenchNoUpserts")
class BenchNoUpserts(NoUpserts, GovernedAgent):
    agent = "bench-no-upserts"
    planner = BenchPlanner(notify=False)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)
