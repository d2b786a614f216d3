"""A planner whose proposals come from a model: the model proposes, the charter disposes.

Each model call is one activity, ``mandate.model_step`` (``mandate.activities.model_step``), so every
request and response is in the run's history and a replay calls no model. The model is offered the tools
its charter does not block (name, description, argument schema) but never runs one: each response ends
with the calls it proposes, and the governed loop takes them through the charter one at a time (run, wait
for a person, or block and record). The next model call gets every outcome as that call's result: the
tool's output, a rejection with the approver's reason, the charter's refusal, a validation error of the
arguments, or the tool's error. The conversation is pydantic-ai's own messages, as JSON, kept by the run.

The charter's ``[model]`` section names the model and bounds it: ``max_model_calls`` and ``max_tokens``
per run (the run then fails as ``model_limit``); each call's tokens are priced by ``input_token_price`` and
``output_token_price`` (per million tokens) into the run's cost. A provider's rate limit or server error is
retried with backoff, honouring its retry-after; a request it refuses fails the run as ``model_error``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from mandate.charter import ModelSection
    from mandate.contract import MODEL_STEP_ACTIVITY
    from mandate.model_calls import (
        NOT_CONFIGURED,
        REQUEST_REJECTED,
        ModelStepInput,
        ModelStepResult,
        ModelTool,
        ProposedCall,
        ToolOutcome,
        model_cost,
    )
    from mandate.run import StepStatus
    from mandate.workflows._tools import error_message
    from mandate.workflows.planner import Finish, PlanContext, ToolProposal

__all__ = ["ModelPlanner", "ModelConversation", "GOVERNANCE_NOTE", "MODEL_RETRY"]

#: Told to the model on every request, after the charter's system prompt.
GOVERNANCE_NOTE = (
    "Your tool calls are proposals. A charter decides each one: it runs at once, waits for a person's "
    "approval, or is refused. Every call you make gets a result: the tool's output, a person's rejection "
    "with their reason, the charter's refusal, or an error in your arguments to correct. When the work is "
    "done, or cannot be done, reply in plain text without calling a tool."
)

#: Rate limits and provider errors are retried, backing off to a minute (a provider's retry-after is
#: honoured up to that); a refused request, or a model this worker cannot build, is not.
MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=[REQUEST_REJECTED, NOT_CONFIGURED],
)

_SUMMARY_LIMIT = 2000


class ModelPlanner:
    """Proposals from the model the charter's ``[model]`` section names (pydantic-ai), one activity per call.

    Subclass to phrase the run's input for the model (``prompt``) or to name the outcome of a run the
    model ends by answering in text (``outcome``). It keeps no state: each run gets a ``ModelConversation``
    of its own from ``for_run()``.
    """

    #: The readiness audit asks for a [model] section in the charter of an agent with this planner.
    needs_model = True

    def __init__(
        self,
        *,
        outcome: str = "done",
        timeout: timedelta = timedelta(minutes=2),
        retry_policy: RetryPolicy = MODEL_RETRY,
    ) -> None:
        self.outcome = outcome
        self.timeout = timeout
        self.retry_policy = retry_policy

    def prompt(self, context: PlanContext) -> str:
        """The first message the model reads: by default the run's input as JSON."""
        return json.dumps(context.input, ensure_ascii=False, sort_keys=True)

    def instructions(self, section: ModelSection) -> str:
        """What the model is told on every request: the charter's system prompt, then how it is governed."""
        return f"{section.system_prompt.strip()}\n\n{GOVERNANCE_NOTE}".strip()

    def for_run(self) -> ModelConversation:
        return ModelConversation(self)

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        raise TypeError(
            "a ModelPlanner keeps one conversation per run: GovernedAgent asks it for_run() and uses that"
        )


@dataclass
class _Taken:
    call: ProposedCall
    step: int  # the index of the step the governed loop records for this call


class ModelConversation:
    """One run's conversation with its model: the messages, the calls not yet proposed, the usage."""

    def __init__(self, planner: ModelPlanner) -> None:
        self.planner = planner
        self.messages: list[dict] = []
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self._queue: list[ProposedCall] = []
        self._taken: list[_Taken] = []
        self._why = ""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    async def propose(self, context: PlanContext) -> ToolProposal | Finish:
        if self._queue:  # a response with several calls: one proposal each before the model is asked again
            return self._next(context)
        section = context.model
        if section is None:
            return Finish(
                outcome="model_error",
                summary=f"{context.agent}'s charter has no [model] section; a ModelPlanner needs one",
                failed=True,
            )
        stop = self._over_limit(section)
        if stop is not None:
            return stop
        outcomes = [self._outcome(taken, context) for taken in self._taken]
        self._taken = []
        try:
            result = await workflow.execute_activity(
                MODEL_STEP_ACTIVITY,
                ModelStepInput(
                    agent=context.agent,
                    model=section.model,
                    instructions=self.planner.instructions(section),
                    tools=[
                        ModelTool(name=t.name, description=t.description, parameters=t.args_schema or {})
                        for t in context.offered()
                    ],
                    messages=self.messages,
                    prompt=self.planner.prompt(context) if not self.messages else None,
                    outcomes=outcomes,
                ),
                result_type=ModelStepResult,
                start_to_close_timeout=self.planner.timeout,
                retry_policy=self.planner.retry_policy,
            )
        except ActivityError as err:
            return Finish(
                outcome="model_error",
                summary=f"model call {self.calls + 1} ({section.model}) failed: {error_message(err)}",
                failed=True,
            )
        return self._answer(result, section, context)

    def _answer(self, result: ModelStepResult, section: ModelSection, context: PlanContext) -> ToolProposal | Finish:
        self.calls += 1
        self.input_tokens += result.input_tokens
        self.output_tokens += result.output_tokens
        self.messages.extend(result.messages)
        cost = model_cost(section, result.input_tokens, result.output_tokens)
        text = " ".join(result.text.split())
        if not result.calls:
            usage = f"{section.model}: {self.calls} model call(s), {self.tokens} tokens"
            summary = f"{text[:_SUMMARY_LIMIT] or 'the model ended without a word'} ({usage})"
            return Finish(outcome=self.planner.outcome, summary=summary, cost=cost)
        usage = f"{section.model} call {self.calls} ({result.input_tokens} in, {result.output_tokens} out tokens)"
        self._why = f"{usage}: {text[:300]}" if text else usage
        self._queue = list(result.calls)
        proposal = self._next(context)
        proposal.cost = cost
        return proposal

    def _next(self, context: PlanContext) -> ToolProposal:
        call = self._queue.pop(0)
        self._taken.append(_Taken(call, len(context.steps) + 1))
        return ToolProposal(tool=call.tool, args=call.args, why=self._why, invalid=call.invalid)

    def _over_limit(self, section: ModelSection) -> Finish | None:
        """Stop before a call the charter's limits do not allow."""
        used = f"{self.calls} model call(s) and {self.tokens} tokens used"
        if self.calls >= section.max_model_calls:
            why = f"the charter allows {section.max_model_calls} model calls per run (model.max_model_calls)"
        elif self.tokens >= section.max_tokens:
            why = f"the charter allows {section.max_tokens} tokens per run (model.max_tokens)"
        else:
            return None
        return Finish(
            outcome="model_limit",
            summary=f"stopped before model call {self.calls + 1}: {why}; {used}",
            failed=True,
        )

    @staticmethod
    def _outcome(taken: _Taken, context: PlanContext) -> ToolOutcome:
        """What became of one proposed call, as the model is told it."""
        call = taken.call
        step = context.steps[taken.step - 1] if taken.step <= len(context.steps) else None
        if step is None or step.tool != call.tool:
            return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="failed", content="not run")
        error = step.error or ""
        if step.status is StepStatus.COMPLETED:
            return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="success", content=step.result)
        if step.status is StepStatus.REJECTED:
            content = f"not run: a person rejected it ({error})"
            return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="denied", content=content)
        if step.status is StepStatus.INVALID:
            content = f"not run: {error}. Call the tool again with arguments that fit its schema."
            return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="retried", content=content)
        if step.status is StepStatus.BLOCKED:
            content = f"not run: {error}"  # "policy violation: <tool>: blocked by the charter", or why else
            return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="failed", content=content)
        if step.status is StepStatus.FAILED:
            content = f"the tool failed: {error}"
            return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="failed", content=content)
        return ToolOutcome(call_id=call.call_id, tool=call.tool, outcome="failed", content=f"not run: {error}")
