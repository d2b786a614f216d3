"""The planner interface: what proposes an agent's next tool call.

A planner runs inside the workflow and never runs a tool: it proposes one (``ToolProposal``) or ends the
run (``Finish``), and the governed loop takes each proposal through the charter (run, wait for a person, or
block and record). The contract is one method::

    class Planner(Protocol):
        async def propose(self, context: PlanContext) -> ToolProposal | Finish: ...

``PlanContext`` holds everything a planner may look at: the run's input, every step so far (tool,
arguments, status, result or error), the tool catalogue of the run's charter (name, description,
authority, policy, argument schema) and the charter's ``[model]`` section.

A rule-based planner decides in workflow code (deterministic: no clock, no I/O). A planner that asks a
model must do it in an activity, so every proposal is recorded in the history and a replay calls no model:
``ModelPlanner`` (``mandate.workflows.model_planner``) does it with pydantic-ai, ``ActivityPlanner`` hands
the context to an activity of your own. A planner that keeps state across proposals (a conversation) must
not keep it on the instance a workflow class shares across runs: it defines ``for_run()``, and the governed
loop asks that once per run for the planner the run uses (``RunPlanning``). A planner that needs
activities of its own lists them in ``activities``; ``build_worker`` registers them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from mandate.authority import Authority, Policy
    from mandate.charter import ModelSection
    from mandate.run import AgentMandate, Step

__all__ = [
    "ToolProposal",
    "Finish",
    "Proposal",
    "ToolEntry",
    "PlanContext",
    "Planner",
    "PerRunPlanner",
    "planner_for_run",
    "RunPlanning",
    "catalogue",
    "ActivityPlanner",
]


class ToolProposal(BaseModel):
    """Call one tool with these arguments.

    ``cost`` is what making this proposal cost (a model call's tokens, priced by the charter); the run
    adds it to its cost. ``invalid`` says why the arguments do not fit the tool: the loop then records the
    step as ``invalid`` and neither runs it nor puts it to a person.
    """

    kind: Literal["tool"] = "tool"
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    why: str = ""
    cost: float = 0.0
    invalid: str | None = None


class Finish(BaseModel):
    """Stop: the run's work is done (or cannot be done). ``failed=True`` fails the workflow."""

    kind: Literal["finish"] = "finish"
    outcome: str
    summary: str = ""
    failed: bool = False
    cost: float = 0.0


Proposal = ToolProposal | Finish


class ToolEntry(BaseModel):
    """One tool the run's charter names, as a planner may present it (to a model, say)."""

    name: str
    description: str = ""
    authority: Authority
    policy: Policy
    args_schema: dict[str, Any] | None = None  # filled for agents whose charter has a [model] section


class PlanContext(BaseModel):
    """Everything a planner may look at: the run's input, every step so far, the charter's tools and model."""

    agent: str
    input: dict[str, Any]
    steps: list[Step]
    tools: list[ToolEntry] = Field(default_factory=list)
    model: ModelSection | None = None

    def last(self, tool: str) -> Step | None:
        """The latest step that used ``tool``."""
        for step in reversed(self.steps):
            if step.tool == tool:
                return step
        return None

    def offered(self) -> list[ToolEntry]:
        """The tools the charter does not block: what a model may be offered."""
        return [entry for entry in self.tools if entry.policy is not Policy.BLOCK]


def catalogue(mandate: AgentMandate) -> list[ToolEntry]:
    """The tools a run's charter names, in charter order, with their policies (compensations are not named)."""
    entries = []
    for name in mandate.charter.tools:
        info = mandate.tools.get(name)
        if info is not None:
            entries.append(
                ToolEntry(
                    name=name,
                    description=info.description,
                    authority=info.authority,
                    policy=mandate.charter.policy_for(name).policy,
                    args_schema=info.args_schema,
                )
            )
    return entries


class Planner(Protocol):
    async def propose(self, context: PlanContext) -> ToolProposal | Finish: ...


@runtime_checkable
class PerRunPlanner(Protocol):
    """A planner with state of its own for each run: the loop calls ``for_run()`` once per run."""

    def for_run(self) -> Planner: ...


def planner_for_run(planner: Planner) -> Planner:
    """The planner a run uses: its own from ``for_run()`` when the planner keeps per-run state, else ``planner``."""
    return planner.for_run() if isinstance(planner, PerRunPlanner) else planner


class RunPlanning:
    """One run's planning: the planner it asks (its own, from ``for_run()``, when the planner keeps per-run
    state) and the context each proposal is asked with: the run's input, the charter's tools and model."""

    def __init__(self, planner: Planner, agent: str, run_input: dict[str, Any], mandate: AgentMandate) -> None:
        self.planner = planner_for_run(planner)
        self._agent, self._input = agent, run_input
        self._tools, self._model = catalogue(mandate), mandate.charter.model

    async def propose(self, steps: list[Step]) -> ToolProposal | Finish:
        context = PlanContext(agent=self._agent, input=self._input, steps=steps, tools=self._tools, model=self._model)
        return await self.planner.propose(context)


class _ProposalEnvelope(BaseModel):
    proposal: ToolProposal | Finish = Field(discriminator="kind")


class ActivityPlanner:
    """A planner whose decisions come from an activity (for example one that calls a model).

    The activity takes a ``PlanContext`` and returns ``{"proposal": {...}}`` with a ``ToolProposal`` or a
    ``Finish``. Pass the activity function itself (decorated with ``@activity.defn``) and ``build_worker``
    registers it with the agent; a name alone must be registered some other way. It is retried like any
    activity; its answer is recorded in the history, so a replay sees the same proposals.
    """

    def __init__(
        self,
        activity_fn: str | Callable[..., Any],
        *,
        timeout: timedelta = timedelta(minutes=2),
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.activities: Sequence[Callable[..., Any]] = ()
        if isinstance(activity_fn, str):
            self.activity_name = activity_fn
        else:
            defn = activity._Definition.must_from_callable(activity_fn)
            self.activity_name, self.activities = defn.name or "", (activity_fn,)
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy(maximum_attempts=3)

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        envelope = await workflow.execute_activity(
            self.activity_name,
            context,
            result_type=_ProposalEnvelope,
            start_to_close_timeout=self.timeout,
            retry_policy=self.retry_policy,
        )
        return envelope.proposal
