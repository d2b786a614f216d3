"""What a governed run knows about itself, and how it reports it.

The ``status`` query's answer (also read by ``mandate replay`` after a replay, so it needs no workflow
context), the run's result, and the facts its search attributes carry; ``on_change`` is told when those
facts change. No workflow API here: the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mandate.approvals import ApprovalBook, args_hash
from mandate.authority import Policy
from mandate.charter import ToolPolicy
from mandate.contract import RunFlag
from mandate.decisions import KillRecord
from mandate.run import (
    AgentMandate,
    AgentResult,
    AgentRunInput,
    AgentStatus,
    Compensation,
    RunState,
    Step,
    StepStatus,
    ToolInfo,
)
from mandate.workflows._signals import Refusals
from mandate.workflows._visibility import RunFacts
from mandate.workflows.planner import ToolProposal

__all__ = ["RunRecord"]


class RunRecord:
    """One run's state: its charter, steps, approvals, refusals, compensations, costs and flags."""

    def __init__(
        self, *, workflow_id: str, agent: str, run_input: AgentRunInput, on_change: Callable[[], None]
    ) -> None:
        self.on_change = on_change
        self.workflow_id = workflow_id
        self.agent = agent
        self.input = run_input
        self.mandate: AgentMandate | None = None
        self.state = RunState.STARTING
        self.steps: list[Step] = []
        self.approvals = ApprovalBook()
        self.refusals = Refusals()
        self.compensations: list[Compensation] = []
        self.cost = 0.0
        self.violations = 0
        self.flags: set[str] = set()
        self.outcome: str | None = None
        self.summary: str | None = None
        self.kill: KillRecord | None = None

    @property
    def finished(self) -> bool:
        """The run completed or failed (a kill can no longer stop it)."""
        return self.state in (RunState.COMPLETED, RunState.FAILED)

    def set_state(self, state: RunState) -> None:
        self.state = state
        self.on_change()

    def flag(self, flag: RunFlag) -> None:
        """Note a fact the metrics count (``MandateFlags``), once."""
        if flag.value not in self.flags:
            self.flags.add(flag.value)
            self.on_change()

    def start_step(self, proposal: ToolProposal, tool: ToolInfo | None, rule: ToolPolicy, now: datetime) -> Step:
        """Record a proposed tool call; ``tool`` is None when no such tool is registered."""
        step = Step(
            index=len(self.steps) + 1,
            tool=proposal.tool,
            authority=tool.authority if tool else None,
            policy=rule.policy if tool else Policy.BLOCK,
            args=proposal.args,
            args_hash=args_hash(proposal.args),
            status=StepStatus.RUNNING,
            why=proposal.why,
            started_at=now,
        )
        self.steps.append(step)
        return step

    @staticmethod
    def end_step(step: Step, status: StepStatus, now: datetime, *, error: str | None = None) -> None:
        step.status = status
        step.error = error
        step.finished_at = now

    def record_invalid(self, proposal: ToolProposal, mandate: AgentMandate, now: datetime) -> bool:
        """A proposal whose arguments the tool refuses (``proposal.invalid``) is recorded as an invalid
        step, neither run nor put to a person; True when it was, False for a proposal to take."""
        if proposal.invalid is None:
            return False
        info, rule = mandate.tools.get(proposal.tool), mandate.charter.policy_for(proposal.tool)
        step = self.start_step(proposal, info, rule, now)
        self.end_step(step, StepStatus.INVALID, now, error=f"invalid arguments: {proposal.invalid}")
        return True

    def status(self) -> AgentStatus:
        charter = self.mandate.charter if self.mandate else None
        return AgentStatus(
            workflow_id=self.workflow_id,
            agent=self.agent,
            state=self.state,
            requested_by=self.input.requested_by,
            input=self.input.input,
            owners=charter.owners if charter else None,
            steps=self.steps,
            pending=self.approvals.pending(),
            requests=list(self.approvals.requests.values()),
            decisions=self.approvals.decisions,
            refused=self.refusals.kept,
            refused_total=self.refusals.total,
            violations=self.violations,
            escalations=self.approvals.escalations,
            rejections=self.approvals.rejections,
            cost=self.cost,
            compensations=self.compensations,
            killed=self.kill,
            outcome=self.outcome,
            summary=self.summary,
        )

    def result(self) -> AgentResult:
        return AgentResult(
            agent=self.agent,
            state=self.state,
            outcome=self.outcome or "",
            summary=self.summary or "",
            steps=len(self.steps),
            cost=self.cost,
            violations=self.violations,
            rejections=self.approvals.rejections,
            escalations=self.approvals.escalations,
            refused_decisions=self.refusals.total,
        )

    def facts(self) -> RunFacts:
        return RunFacts(
            agent=self.agent,
            state=self.state,
            pending=self.approvals.pending(),
            requested_by=self.input.requested_by,
            cost=self.cost,
            flags=self.flags,
            owner=self.mandate.charter.owners.workflow if self.mandate else None,
        )
