"""What a model-backed agent's model call takes and returns, what it costs, and which model it asks.

One call of the model is one activity, ``mandate.model_step`` (``mandate.activities.model_step``): the
workflow's ``ModelPlanner`` sends the conversation so far and the outcome of every call the model proposed
last; the activity asks the model once and returns the request it sent, the model's response and the tool
calls it proposes, each checked against the tool's argument model. Everything here is plain data and
arithmetic: pydantic-ai is imported only by the activity, so a worker without ``mandate[ai]`` still serves
every other agent.

Which model: the charter's ``[model].model``, unless ``MANDATE_MODEL_<AGENT>`` (the agent's name in upper
case, ``-`` as ``_``) or ``MANDATE_MODEL`` is set, for tests and local runs. The worker applies the
override when it loads the charter, so the run's history records the model it actually used.
``scripted:<name>`` names a scripted model registered in this process (``scripted_model``): a pydantic-ai
``FunctionModel`` that needs no network and no key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from mandate.charter import Charter, ModelSection

__all__ = [
    "MODEL_ENV",
    "SCRIPTED",
    "REQUEST_REJECTED",
    "NOT_CONFIGURED",
    "PROVIDER_KEYS",
    "ModelTool",
    "ToolOutcome",
    "ProposedCall",
    "ModelStepInput",
    "ModelStepResult",
    "model_cost",
    "model_env_names",
    "model_override",
    "with_model_override",
    "missing_key",
    "redact",
    "scripted_model",
    "scripted_factory",
    "scripted_names",
]

MODEL_ENV = "MANDATE_MODEL"
SCRIPTED = "scripted:"
#: The error types a model step fails with when retrying cannot help: the provider refused the request
#: (bad request, authentication, unknown model, exhausted quota), or the model cannot be built here.
REQUEST_REJECTED = "ModelRequestRejected"
NOT_CONFIGURED = "ModelNotConfigured"

#: The environment variable each provider's client reads its API key from (pydantic-ai's defaults).
PROVIDER_KEYS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google-gla": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "cohere": "CO_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}


class ModelTool(BaseModel):
    """A tool as the model is offered it: its name, what it does, and its arguments' JSON schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolOutcome(BaseModel):
    """What became of one call the model proposed, as the next model call tells it.

    ``outcome`` is pydantic-ai's ``ToolReturnPart.outcome``: ``success`` (the tool's output), ``denied``
    (a person rejected it), ``failed`` (the charter blocked it, or the tool failed), ``retried`` (its
    arguments did not validate). ``content`` is the output, or a sentence saying what happened.
    """

    call_id: str
    tool: str
    outcome: Literal["success", "denied", "failed", "retried"]
    content: Any = None


class ProposedCall(BaseModel):
    """One tool call the model proposed. ``invalid`` says why its arguments do not fit the tool, if so."""

    call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    invalid: str | None = None


class ModelStepInput(BaseModel):
    """The input of one ``mandate.model_step``: the first call sends ``prompt``, every later one
    ``outcomes``, the outcome of each call the model proposed in its last response."""

    agent: str
    model: str
    instructions: str
    tools: list[ModelTool]
    messages: list[dict[str, Any]] = Field(default_factory=list)
    prompt: str | None = None
    outcomes: list[ToolOutcome] = Field(default_factory=list)


class ModelStepResult(BaseModel):
    """What one model call produced: the request it sent and the response (pydantic-ai messages, as
    JSON), the calls proposed, the response's text, and the tokens it used."""

    messages: list[dict[str, Any]]
    calls: list[ProposedCall] = Field(default_factory=list)
    text: str = ""
    model_name: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


def model_cost(section: ModelSection, input_tokens: int, output_tokens: int) -> float:
    """The price of one call: tokens times the charter's prices, which are per million tokens."""
    price_in = section.input_token_price or 0.0
    price_out = section.output_token_price or 0.0
    return (input_tokens * price_in + output_tokens * price_out) / 1_000_000


def model_env_names(agent: str) -> list[str]:
    """The variables that override an agent's model, the more specific first."""
    return [f"{MODEL_ENV}_{agent.upper().replace('-', '_')}", MODEL_ENV]


def model_override(agent: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The model the environment asks this agent to use instead of its charter's, if any."""
    env = os.environ if environ is None else environ
    for name in model_env_names(agent):
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def with_model_override(charter: Charter, environ: Mapping[str, str] | None = None) -> Charter:
    """The charter with its ``[model].model`` replaced by the environment's override, if one is set.

    A charter without ``[model]`` is returned as it is: the override never makes an agent model-backed.
    """
    if charter.model is None:
        return charter
    chosen = model_override(charter.name, environ)
    if chosen is None or chosen == charter.model.model:
        return charter
    section = ModelSection.model_validate({**charter.model.model_dump(), "model": chosen})
    return charter.model_copy(update={"model": section})


def missing_key(model: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The API-key variable ``model``'s provider reads that is not set; None when none is needed or it is."""
    env = os.environ if environ is None else environ
    provider = model.split(":", 1)[0] if ":" in model else ""
    needed = PROVIDER_KEYS.get(provider)
    return needed if needed and not env.get(needed, "").strip() else None


_KEY_LIKE = re.compile(r"\b(?:sk|sk-ant|sk-proj|gsk|xai)-[A-Za-z0-9_\-]{8,}")
_SECRET_NAMES = ("_API_KEY", "_TOKEN", "_SECRET", "_KEY")


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every API key it holds replaced: the values of the environment's key variables,
    and anything shaped like a provider key. Model errors pass through here before they reach a history."""
    env = os.environ if environ is None else environ
    for name, value in env.items():
        if name.upper().endswith(_SECRET_NAMES) and len(value) >= 8 and value in text:
            text = text.replace(value, f"[{name} redacted]")
    return _KEY_LIKE.sub("[key redacted]", text)


# ------------------------------------------------------------------------------------- scripted models

_scripted: dict[str, Callable[[], Any]] = {}


def scripted_model(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register a scripted model as ``scripted:<name>``: a function returning a pydantic-ai ``Model``
    (usually a ``FunctionModel``) that needs no network. It is called in the worker, once per model
    string; registering a name again replaces it."""

    def register(factory: Callable[[], Any]) -> Callable[[], Any]:
        _scripted[name] = factory
        return factory

    return register


def scripted_factory(model: str) -> Callable[[], Any] | None:
    """The factory registered for a ``scripted:<name>`` model string; None for any other string."""
    if not model.startswith(SCRIPTED):
        return None
    return _scripted.get(model.removeprefix(SCRIPTED))


def scripted_names() -> list[str]:
    """Every scripted model registered in this process, as its model string."""
    return sorted(SCRIPTED + name for name in _scripted)
