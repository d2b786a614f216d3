"""Ablation variant ``passthrough``: the benchmark agent unchanged, on a worker whose sandbox passes the
project's modules through, so that no module is run again (and no ``@workflow.defn`` applied again) per run."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.bench_agents import BenchPlanner
    from mandate.run import AgentResult, AgentRunInput
    from workflows.governed import GovernedAgent


@workflow.defn(name="BenchPassthrough")
class BenchPassthrough(GovernedAgent):
    agent = "bench-passthrough"
    planner = BenchPlanner(notify=False)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)
