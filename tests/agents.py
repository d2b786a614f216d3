"""Copies of the refund agent under other names, so that each monitor test has its own metrics."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.run import AgentResult, AgentRunInput
    from mandate.workflows.refund_agent import RefundAgent


@workflow.defn(name="RefundAgentA")
class RefundAgentA(RefundAgent):
    agent = "refund-a"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentB")
class RefundAgentB(RefundAgent):
    agent = "refund-b"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentC")
class RefundAgentC(RefundAgent):
    agent = "refund-c"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentD")
class RefundAgentD(RefundAgent):
    agent = "refund-d"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentE")
class RefundAgentE(RefundAgent):
    agent = "refund-e"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentF")
class RefundAgentF(RefundAgent):
    agent = "refund-f"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


@workflow.defn(name="RefundAgentG")
class RefundAgentG(RefundAgent):
    agent = "refund-g"

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        return await self.govern(run_input)


TEST_AGENTS = {
    cls.agent: cls
    for cls in (
        RefundAgentA,
        RefundAgentB,
        RefundAgentC,
        RefundAgentD,
        RefundAgentE,
        RefundAgentF,
        RefundAgentG,
    )
}
