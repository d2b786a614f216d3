"""``mandate.model_step``: one call of a model-backed agent's model, made with pydantic-ai.

Exactly one request per activity attempt (``pydantic_ai.direct.model_request``, with the provider
client's own retries off, so Temporal's retry policy is the only one). The model is offered the tools the
workflow sends and never runs one: the calls it proposes are returned, each with its arguments checked
against the tool's argument model here, where the registry is, so arguments that do not fit go back to
the model and never reach an approver. A call of a tool the model was not offered is returned as it is,
for the charter to refuse. An unknown tool or arguments that are not JSON are outcomes, not exceptions.

Provider errors become Temporal failures the retry policy understands: a rate limit, an overloaded or
failing server, a dropped connection are retried, after the provider's retry-after when it gives one; a
request the provider refuses (bad request, authentication, unknown model, exhausted quota) or a model this
worker cannot build (no API key, pydantic-ai not installed) fails at once. Their messages pass through
``redact`` first: an API key never reaches a history or a log. pydantic-ai is imported on the first call,
so a worker without ``mandate[ai]`` still serves every other agent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from mandate.contract import MODEL_STEP_ACTIVITY
from mandate.model_calls import (
    NOT_CONFIGURED,
    REQUEST_REJECTED,
    SCRIPTED,
    ModelStepInput,
    ModelStepResult,
    ProposedCall,
    redact,
    scripted_factory,
    scripted_names,
)
from mandate.tools import ToolRegistry

__all__ = ["ModelActivities"]

_log = structlog.get_logger("mandate.model")
_NOT_INSTALLED = "pydantic-ai is not installed in this worker's environment; pip install 'mandate[ai]'"
_RETRYABLE_4XX = (408, 409, 425, 429)


class ModelActivities:
    """The model-step activity, bound to the worker's tool registry (to check proposed arguments) and to
    the model-backed agents it serves, by workflow type: only their runs may spend the worker's keys."""

    def __init__(self, tools: ToolRegistry, agents: Mapping[str, str], *, callers: Any = None) -> None:
        self._tools = tools
        self._agents = dict(agents)
        self._callers = callers  # mandate.worker.callers.Callers: the run must be on this worker's queue
        self._models: dict[str, Any] = {}

    @activity.defn(name=MODEL_STEP_ACTIVITY)
    async def model_step(self, step: ModelStepInput) -> ModelStepResult:
        caller = activity.info().workflow_type or ""
        if self._agents.get(caller) != step.agent:
            raise ApplicationError(
                f"workflow type {caller!r} is not a model-backed agent this worker serves as {step.agent!r}",
                type=NOT_CONFIGURED,
                non_retryable=True,
            )
        if self._callers is not None:
            await self._callers.require(activity.info(), types=self._agents, what=MODEL_STEP_ACTIVITY, verified_start=True)
        try:
            from pydantic_ai.direct import model_request
            from pydantic_ai.messages import ModelMessagesTypeAdapter
            from pydantic_ai.models import ModelRequestParameters
            from pydantic_ai.tools import ToolDefinition
        except ImportError:
            raise ApplicationError(_NOT_INSTALLED, type=NOT_CONFIGURED, non_retryable=True) from None
        model = self._model(step.model)
        request = _request(step)
        history = ModelMessagesTypeAdapter.validate_python(step.messages)
        tools = [
            ToolDefinition(name=t.name, description=t.description, parameters_json_schema=t.parameters)
            for t in step.tools
        ]
        started = time.monotonic()
        with _provider_errors(step.model):
            response = await model_request(
                model,
                [*history, request],
                model_settings={"max_retries": 0},
                model_request_parameters=ModelRequestParameters(function_tools=tools, allow_text_output=True),
            )
        offered = {t.name for t in step.tools}
        calls = [self._checked(call, offered) for call in response.tool_calls]
        info = activity.info()
        _log.info(
            "model_step",
            agent=step.agent,
            workflow_id=info.workflow_id,
            model=step.model,
            attempt=info.attempt,
            calls=[c.tool for c in calls],
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return ModelStepResult(
            messages=_compact(ModelMessagesTypeAdapter.dump_python([request, response], mode="json", exclude_none=True)),
            calls=calls,
            text=response.text or "",
            model_name=response.model_name or step.model,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
        )

    def _model(self, name: str) -> Any:
        """The pydantic-ai model for a model string, built once per worker (a scripted one from its registry)."""
        model = self._models.get(name)
        if model is not None:
            return model
        factory = scripted_factory(name)
        if name.startswith(SCRIPTED) and factory is None:
            known = ", ".join(scripted_names()) or "none"
            raise ApplicationError(
                f"no scripted model {name!r} is registered in this worker (known: {known})",
                type=NOT_CONFIGURED,
                non_retryable=True,
            )
        with _provider_errors(name):
            if factory is not None:
                model = factory()
            else:
                from pydantic_ai.models import infer_model

                model = infer_model(name)
        self._models[name] = model
        return model

    def _checked(self, call: Any, offered: set[str]) -> ProposedCall:
        """A proposed call, its arguments checked against the tool's model when the model was offered it."""
        from pydantic_ai.messages import INVALID_JSON_KEY

        args: dict[str, Any] = call.args_as_dict()
        proposed = ProposedCall(call_id=call.tool_call_id, tool=call.tool_name, args=args)
        spec = self._tools.get(call.tool_name)
        if call.tool_name not in offered or spec is None:
            return proposed  # not offered: the charter refuses it, whatever its arguments
        if INVALID_JSON_KEY in args:
            proposed.invalid = "the arguments are not valid JSON"
            return proposed
        try:
            valid = spec.args_model.model_validate(args)
        except ValidationError as err:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in err.errors()]
            proposed.invalid = "; ".join(problems)[:500]
            return proposed
        # What the tool will receive, so an approver reads exactly that (types coerced, nothing added).
        proposed.args = valid.model_dump(mode="json", exclude_unset=True)
        return proposed


def _compact(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as the run keeps them: no empty fields, and no instructions on a request (every call
    sends them anew on its own request, and a model reads only the latest; each step's input records them).
    The conversation crosses every later model step whole, so each byte here is paid once per call."""
    for message in messages:
        if message.get("kind") == "request":
            message.pop("instructions", None)
    return messages


def _request(step: ModelStepInput) -> Any:
    """The request this call sends: the run's prompt first, then the outcome of every proposed call."""
    from pydantic_ai.messages import ModelRequest, ToolReturnPart

    if step.prompt is not None:
        return ModelRequest.user_text_prompt(step.prompt, instructions=step.instructions)
    if not step.outcomes:
        raise ApplicationError("a model step needs a prompt or outcomes", type=NOT_CONFIGURED, non_retryable=True)
    parts = [
        ToolReturnPart(tool_name=o.tool, content=o.content, tool_call_id=o.call_id, outcome=o.outcome)
        for o in step.outcomes
    ]
    return ModelRequest(parts=parts, instructions=step.instructions)


@contextmanager
def _provider_errors(model: str) -> Iterator[None]:
    """A provider's error as a Temporal failure: retryable (after its retry-after) or not; keys redacted."""
    from pydantic_ai.exceptions import (
        ModelAPIError,
        ModelHTTPError,
        ModelQuotaExceededError,
        ModelRequestRejectedError,
        UserError,
    )

    try:
        yield
    except ModelAPIError as err:
        message = redact(f"{model}: {err}")
        refused = isinstance(err, ModelRequestRejectedError | ModelQuotaExceededError) or (
            isinstance(err, ModelHTTPError) and 400 <= err.status_code < 500 and err.status_code not in _RETRYABLE_4XX
        )
        if refused:
            raise ApplicationError(message, type=REQUEST_REJECTED, non_retryable=True) from None
        delay = _retry_delay(err.retry_after) if err.retry_after is not None else None
        raise ApplicationError(message, type=type(err).__name__, next_retry_delay=delay) from None
    except UserError as err:
        raise ApplicationError(redact(f"{model}: {err}"), type=NOT_CONFIGURED, non_retryable=True) from None


def _retry_delay(retry_after: float) -> timedelta:
    """Wait what the provider asked, up to the retry policy's longest interval."""
    policy = (activity.info().retry_policy if activity.in_activity() else None) or RetryPolicy()
    longest = policy.maximum_interval or policy.initial_interval * 100
    return timedelta(seconds=max(0.0, min(retry_after, longest.total_seconds())))
