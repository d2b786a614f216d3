"""The planner interface: what proposes an agent's next tool call.

A planner runs inside the workflow. A rule-based planner decides in workflow code
(deterministic, no I/O). A model-backed planner must not call a model from workflow
code: ``ActivityPlanner`` hands the context to an activity, so every proposal the
model makes is recorded in the history and replays exactly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from mandate.run import Step

__all__ = ["ToolProposal", "Finish", "Proposal", "PlanContext", "Planner", "ActivityPlanner"]


class ToolProposal(BaseModel):
    """Call one tool with these arguments."""

    kind: Literal["tool"] = "tool"
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    why: str = ""


class Finish(BaseModel):
    """Stop: the run's work is done (or cannot be done)."""

    kind: Literal["finish"] = "finish"
    outcome: str
    summary: str = ""
    failed: bool = False


Proposal = ToolProposal | Finish


class PlanContext(BaseModel):
    """Everything a planner may look at: the run's input and every step so far."""

    agent: str
    input: dict[str, Any]
    steps: list[Step]

    def last(self, tool: str) -> Step | None:
        """The latest step that used ``tool``."""
        for step in reversed(self.steps):
            if step.tool == tool:
                return step
        return None


class Planner(Protocol):
    async def propose(self, context: PlanContext) -> ToolProposal | Finish: ...


class _ProposalEnvelope(BaseModel):
    proposal: ToolProposal | Finish = Field(discriminator="kind")


class ActivityPlanner:
    """A planner whose decisions come from an activity (for example one that calls a model).

    The activity takes a ``PlanContext`` and returns ``{"proposal": {...}}`` with a
    ``ToolProposal`` or a ``Finish``. It is retried like any activity; its answer is
    recorded in the history, so a replay sees the same proposals.
    """

    def __init__(self, activity_name: str, *, timeout: timedelta = timedelta(minutes=2)) -> None:
        self.activity_name = activity_name
        self.timeout = timeout

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        envelope = await workflow.execute_activity(
            self.activity_name,
            context,
            result_type=_ProposalEnvelope,
            start_to_close_timeout=self.timeout,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return envelope.proposal
