"""One integration pattern: a tool is declared once and becomes a Temporal activity.

``@tool`` records the tool's authority, cost, compensation and irreversibility in a
registry, and wraps the function in an activity named after the tool, which binds
structlog context (workflow id, run id, agent, tool, authority) and hands the
idempotency key of the call to the function.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from mandate.authority import Authority
from mandate.durations import parse_duration
from mandate.errors import ToolRegistryError, first_problem
from mandate.run import ToolCallInput, ToolCallResult, ToolInfo
from mandate.statements import Statement

__all__ = [
    "ToolContext",
    "ToolSpec",
    "ToolRegistry",
    "ToolGuard",
    "registry",
    "tool",
    "current_tool_context",
    "current_approval",
]

ArgsT = TypeVar("ArgsT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)

_log = structlog.get_logger("mandate.tools")


@dataclass(frozen=True)
class ToolContext:
    """What a running tool knows about the call it serves."""

    agent: str
    workflow_id: str
    run_id: str
    idempotency_key: str | None
    attempt: int
    #: The verified statement the call runs under (a gated write's approval, a compensation's kill).
    approval: Statement | None = None


_current: ContextVar[ToolContext | None] = ContextVar("mandate_tool_context", default=None)


def current_tool_context() -> ToolContext:
    """The context of the tool call running in this activity (only valid inside a tool)."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_tool_context() called outside a Mandate tool")
    return ctx


@dataclass
class ToolSpec:
    """A tool as the registry knows it."""

    name: str
    authority: Authority
    fn: Callable[..., Awaitable[BaseModel]]
    args_model: type[BaseModel]
    result_model: type[BaseModel]
    description: str = ""
    cost: float = 0.0
    compensation: str | None = None
    irreversible: str | None = None
    compensates: str | None = None
    timeout: timedelta | None = None
    activity: Callable[..., Any] = field(init=False, repr=False)

    def info(self) -> ToolInfo:
        return ToolInfo(
            name=self.name,
            authority=self.authority,
            cost=self.cost,
            compensation=self.compensation,
            irreversible=self.irreversible,
            compensates=self.compensates,
            description=self.description,
            timeout_seconds=self.timeout.total_seconds() if self.timeout else None,
        )


class ToolRegistry:
    """Every tool Mandate knows, by name. Agents differ only in planner and charter."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def add(self, spec: ToolSpec) -> None:
        known = self._tools.get(spec.name)
        if known is not None:
            if _same_function(known.fn, spec.fn):
                return  # the same module imported again (a workflow sandbox re-imports user modules)
            raise ToolRegistryError(
                f"tool {spec.name!r} is declared twice ({_where(known.fn)} and {_where(spec.fn)})"
            )
        spec.activity = _make_activity(spec)
        self._tools[spec.name] = spec

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [self._tools[n] for n in self.names()]

    def activities(self, names: Sequence[str] | None = None, *, guard: ToolGuard | None = None) -> list[Callable[..., Any]]:
        """The activities of ``names`` (default: every tool); with a ``guard``, each call must pass it first."""
        chosen = [self._tools[n] for n in (self.names() if names is None else sorted(names)) if n in self._tools]
        return [_make_activity(spec, guard) if guard else spec.activity for spec in chosen]

    def validate(self) -> None:
        """Check cross-references: compensations exist and are write tools."""
        for spec in self._tools.values():
            if spec.compensation is not None:
                comp = self._tools.get(spec.compensation)
                if comp is None:
                    raise ToolRegistryError(
                        f"tool {spec.name!r} names compensation {spec.compensation!r}, which is not a tool"
                    )
                if comp.compensates != spec.name:
                    raise ToolRegistryError(
                        f"compensation {comp.name!r} must be declared with compensates={spec.name!r}"
                    )


class ToolGuard(Protocol):
    """What a worker checks before any tool runs: which run calls it, and on whose authority.

    ``admit`` returns the verified statement the call runs under (or None when the charter lets the tool
    run without one) and raises a non-retryable ``ApplicationError`` of type ``ToolRefused`` otherwise.
    """

    async def admit(self, spec: ToolSpec, call: ToolCallInput, info: activity.Info) -> Statement | None: ...


registry = ToolRegistry()


def _where(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    return _where(a) == _where(b)


def tool(
    *,
    authority: Authority | str,
    name: str | None = None,
    cost: float = 0.0,
    compensation: str | None = None,
    compensates: str | None = None,
    irreversible: str | None = None,
    timeout: str | timedelta | None = None,
    into: ToolRegistry | None = None,
) -> Callable[[Callable[[ArgsT], Awaitable[ResultT]]], Callable[[ArgsT], Awaitable[ResultT]]]:
    """Declare an agent tool.

    The function takes one pydantic model and returns one. ``compensation`` names the
    tool that undoes this one (it receives ``{"original": args, "result": result}``);
    ``irreversible`` states why a write cannot be undone. ``timeout`` (``"30s"``, ``"2m"``) bounds
    one attempt: a worker that dies mid-call has its attempt retried once it has passed (default 5m).
    """
    auth = Authority(authority)
    limit = parse_duration(timeout) if isinstance(timeout, str) else timeout
    if auth is Authority.READ and (compensation or irreversible):
        raise ToolRegistryError("a read tool needs no compensation and cannot be irreversible")

    def decorate(fn: Callable[[ArgsT], Awaitable[ResultT]]) -> Callable[[ArgsT], Awaitable[ResultT]]:
        if not inspect.iscoroutinefunction(fn):
            raise ToolRegistryError(f"tool {fn.__name__!r} must be an async function")
        hints = inspect.get_annotations(fn, eval_str=True)
        params = [p for p in inspect.signature(fn).parameters if p != "return"]
        if len(params) != 1:
            raise ToolRegistryError(f"tool {fn.__name__!r} must take exactly one pydantic model argument")
        args_model = hints.get(params[0])
        result_model = hints.get("return")
        for what, model in (("argument", args_model), ("result", result_model)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise ToolRegistryError(
                    f"tool {fn.__name__!r}: its {what} must be annotated as a pydantic model"
                )
        spec = ToolSpec(
            name=name or fn.__name__,
            authority=auth,
            fn=fn,
            args_model=args_model,  # type: ignore[arg-type]
            result_model=result_model,  # type: ignore[arg-type]
            description=inspect.cleandoc(fn.__doc__ or "").split("\n", 1)[0],
            cost=cost,
            compensation=compensation,
            compensates=compensates,
            irreversible=irreversible,
            timeout=limit,
        )
        (into or registry).add(spec)
        return fn

    return decorate


def _make_activity(spec: ToolSpec, guard: ToolGuard | None = None) -> Callable[[ToolCallInput], Awaitable[ToolCallResult]]:
    @activity.defn(name=spec.name)
    async def run_tool(call: ToolCallInput) -> ToolCallResult:
        info = activity.info()
        approval = await guard.admit(spec, call, info) if guard is not None else None
        try:
            args = spec.args_model.model_validate(call.args)
        except ValidationError as err:
            raise ApplicationError(
                f"invalid arguments for tool {spec.name}: {first_problem(err, what='args')}",
                type="InvalidToolArguments",
                non_retryable=True,
            ) from None
        ctx = ToolContext(
            agent=call.agent,
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            idempotency_key=call.idempotency_key,
            attempt=info.attempt,
            approval=approval,
        )
        token = _current.set(ctx)
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(
            workflow_id=ctx.workflow_id,
            run_id=ctx.run_id,
            agent=call.agent,
            tool=spec.name,
            authority=spec.authority.value,
            attempt=info.attempt,
        ):
            _log.info("tool_started", idempotency_key=call.idempotency_key)
            try:
                result = await spec.fn(args)
            except Exception as err:
                _log.warning("tool_failed", error=str(err), error_type=type(err).__name__)
                raise
            finally:
                _current.reset(token)
            _log.info("tool_finished", duration_ms=round((time.monotonic() - started) * 1000, 1))
        return ToolCallResult(output=result.model_dump(mode="json"), cost=spec.cost)

    run_tool.__name__ = run_tool.__qualname__ = f"tool_{spec.name}"
    return run_tool


def current_approval() -> Statement | None:
    """The verified statement the running tool call runs under; None for none, or outside a tool."""
    ctx = _current.get()
    return ctx.approval if ctx is not None else None
