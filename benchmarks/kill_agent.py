"""The kill benchmark's agent: the benchmark agent plus ``notify_customer`` (needs approval) after the refund.

A run of it holds one completed, compensable write (the refund) while it waits for the second
approval: that is what ``mandate.api.kill_agent(..., rollback=True)`` has to undo.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.bench_agents import KILL_AGENT, BenchPlanner
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.governed import GovernedAgent

__all__ = ["BenchKillAgent"]


@workflow.defn(name="BenchKillAgent")
class BenchKillAgent(GovernedAgent):
    agent = KILL_AGENT
    planner = BenchPlanner(notify=True)

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)
