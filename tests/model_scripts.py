"""Scripted models for the tests: pydantic-ai ``FunctionModel``s registered as ``scripted:<name>``.

Each ``Script`` decides a response from what the model has been told so far, and keeps what it saw
(the tools offered and the outcome of every call it proposed) for the test to check. The worker runs
in the test's process, so the activity calls the very function the test registered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from mandate.charter import Charter, load_charter
from mandate.model_calls import scripted_model
from mandate.tools import registry

CHARTERS = Path(__file__).resolve().parent.parent / "charters"
AGENT = "support-agent"


@dataclass
class Script:
    """One test's model. ``respond(script, returns)`` gets the outcomes of the calls it proposed last."""

    respond: Callable[[Script, list[ToolReturnPart]], ModelResponse]
    name: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")
    seen: list[list[ToolReturnPart]] = field(default_factory=list)
    offered: list[list[str]] = field(default_factory=list)
    instructions: list[str | None] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)  # monotonic time of every call, failed ones too

    def __post_init__(self) -> None:
        scripted_model(self.name)(lambda: FunctionModel(self._reply, model_name=self.model))

    @property
    def model(self) -> str:
        return f"scripted:{self.name}"

    @property
    def calls(self) -> int:
        return len(self.seen)

    def _reply(self, messages: list[Any], info: AgentInfo) -> ModelResponse:
        self.attempts.append(time.monotonic())
        last = messages[-1]
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
        response = self.respond(self, returns)  # may raise a provider error: then nothing is recorded
        self.seen.append(returns)
        self.offered.append(sorted(t.name for t in info.function_tools))
        self.instructions.append(info.instructions)
        return response


def call(tool: str, args: dict[str, Any] | str, text: str = "") -> ModelResponse:
    """A response proposing one call (``args`` as a string is sent as the model wrote it)."""
    parts: list[Any] = [TextPart(text)] if text else []
    return ModelResponse(parts=[*parts, ToolCallPart(tool, args)])


def calls(*proposed: tuple[str, dict[str, Any] | str]) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(tool, args) for tool, args in proposed])


def answer(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def charters_with(model: str, **limits: Any) -> dict[str, Charter]:
    """The shipped support-agent charter with ``model`` and any ``[model]`` limits replaced."""
    charter = load_charter(CHARTERS / f"{AGENT}.toml", registry)
    assert charter.model is not None
    section = charter.model.model_copy(update={"model": model, **limits})
    return {AGENT: charter.model_copy(update={"model": section})}
