"""The questions of the readiness audit (five, and a sixth for model-backed agents), each answered from
one charter view as one ``Check``.

What a charter must be is ``mandate.charter``'s to say (``registry_problems``, ``THRESHOLDS``); these
add what only the worker layer can see: the workflow classes the agent packages offer, and whether the
agent's writes can be undone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass

from mandate.authority import Authority, Policy
from mandate.charter import MODEL_LIMITS, THRESHOLDS, registry_problems
from mandate.durations import format_duration
from mandate.model_calls import SCRIPTED, model_env_names, model_override, scripted_factory, scripted_names
from mandate.tools import ToolRegistry
from mandate.worker._audit_view import CharterView
from mandate.workflows.governed import GovernedAgent

__all__ = ["Check", "authority", "owners", "tool_pattern", "outcomes", "rollback", "model", "asks_model"]


@dataclass(frozen=True)
class Check:
    """The answer to one question: ``detail`` is one line; on failure it names the field and the fix."""

    question: str
    ok: bool
    detail: str


def _declared_tools(cls: type | None) -> tuple[str, ...] | None:
    """The tools a workflow class declares it may call (``tools: ClassVar[tuple[str, ...]]``), if any."""
    if cls is None:
        return None
    declared = getattr(cls, "tools", None)
    if declared is None:
        return None
    if isinstance(declared, str):
        return (declared,)
    try:
        return tuple(str(name) for name in declared)
    except TypeError:
        return None


def authority(view: CharterView, tools: ToolRegistry, workflows: Mapping[str, type]) -> Check:
    if not view.tools_readable:
        return Check("authority", False, view.not_checked("tools"))
    problems = [f"{p.field}: {p.reason}" for p in registry_problems(view.shown, view.tools, tools)]
    cls = workflows.get(view.workflow) if view.workflow else None
    for name in _declared_tools(cls) or ():
        if name in tools and name not in view.tools:
            problems.append(
                f"tools.{name}: workflow {view.workflow} may call {name!r} but the charter gives it no policy; "
                f'add [tools.{name}] with policy = "allow" | "approve" | "block"'
            )
    if problems:
        return Check("authority", False, "; ".join(problems))
    if not view.tools:
        return Check("authority", True, "the charter names no tool; every tool is blocked (default deny)")
    counts = {p: sum(1 for r in view.tools.values() if r.policy is p) for p in Policy}
    spread = ", ".join(f"{p.value} {n}" for p, n in counts.items() if n)
    return Check(
        "authority",
        True,
        f"{len(view.tools)} tool(s), each registered with a policy ({spread}); any other tool is blocked",
    )


def owners(view: CharterView) -> Check:
    if view.owners is None:
        return Check("owners", False, view.not_checked("owners"))
    o = view.owners
    return Check(
        "owners", True, f"workflow {o.workflow}, risk {o.risk}, quality {o.quality}, stop_go {o.stop_go}"
    )


def _workflow_problem(view: CharterView, workflows: Mapping[str, type]) -> str | None:
    """What is wrong with the workflow the charter names, if anything."""
    if view.workflow is None:
        return 'workflow: not set; add workflow = "<the agent\'s workflow type name>"'
    cls = workflows.get(view.workflow)
    if cls is None:
        known = ", ".join(sorted(workflows)) or "none"
        return (
            f"workflow: no agent workflow is named {view.workflow!r} (known: {known}); "
            "name one of them or define and register the workflow"
        )
    if not (isinstance(cls, type) and issubclass(cls, GovernedAgent)):
        return (
            f"workflow: {view.workflow} is not a GovernedAgent; derive it from "
            "mandate.GovernedAgent so every tool call goes through the registry and the charter"
        )
    agent = getattr(cls, "agent", None)
    if agent != view.name:
        return (
            f"workflow: {view.workflow} serves agent {agent!r}, not {view.name!r}; "
            f"set agent = {view.name!r} on the class or name the right workflow"
        )
    return None


def tool_pattern(view: CharterView, tools: ToolRegistry, workflows: Mapping[str, type]) -> Check:
    wrong = _workflow_problem(view, workflows)
    problems = [wrong] if wrong else []
    for name in view.tool_names:
        if name not in tools:
            problems.append(f"tools.{name}: {name!r} is not declared with @tool")
    cls = workflows.get(view.workflow) if view.workflow else None
    for name in _declared_tools(cls) or ():
        if name not in tools:
            problems.append(
                f"{view.workflow}.tools: declares {name!r}, which is not declared with @tool; declare it or drop it"
            )
    if problems:
        return Check("tool_pattern", False, "; ".join(problems))
    return Check(
        "tool_pattern",
        True,
        f"workflow {view.workflow} is the GovernedAgent of {view.name}; "
        f"its {len(view.tool_names)} tool(s) are declared with @tool",
    )


def outcomes(view: CharterView) -> Check:
    raw = view.raw_kill
    if raw is None and "kill_criteria" not in (view.raw or {}):
        return Check(
            "outcomes",
            False,
            "kill_criteria: no [kill_criteria] table; add one with window, min_samples, "
            + ", ".join(THRESHOLDS),
        )
    if raw is None or view.kill is None:
        return Check("outcomes", False, view.not_checked("kill_criteria"))
    missing = [f"kill_criteria.{key}" for key in ("window", "min_samples") if key not in raw]
    missing += [f"kill_criteria.{key}" for key in THRESHOLDS if getattr(view.kill, key) is None]
    if missing:
        return Check(
            "outcomes",
            False,
            "; ".join(f"{key} is not set" for key in missing) + "; set each in [kill_criteria]",
        )
    k = view.kill
    return Check(
        "outcomes",
        True,
        f"over {format_duration(k.window)} with at least {k.min_samples} run(s): "
        f"exception rate <= {k.max_exception_rate:g}, rework rate <= {k.max_rework_rate:g}, "
        f"escalation rate <= {k.max_escalation_rate:g}, cost per workflow <= {k.max_cost_per_workflow:g}",
    )


def rollback(view: CharterView, tools: ToolRegistry) -> Check:
    """The breach action and how each write is undone. A bad action never gets here: it is a charter
    problem (``kill_criteria.action``), reported under this question before it is asked."""
    problems = []
    raw = view.raw_kill
    action = None if raw is None else raw.get("action")
    if action is None:
        where = "" if raw is not None else " (there is no [kill_criteria] table)"
        problems.append(
            f"kill_criteria.action is not set{where}; write the breach action: "
            'action = "pause" | "cancel" | "rollback"'
        )
    if not view.tools_readable:
        problems.append(view.not_checked("tools"))
    undoable, irreversible = [], []
    for name, rule in view.tools.items():
        spec = tools.get(name)
        if rule.policy is Policy.BLOCK or spec is None or spec.authority is not Authority.WRITE:
            continue
        if spec.compensation is not None:
            if spec.compensation in tools:
                undoable.append(f"{name} (by {spec.compensation})")
            else:
                problems.append(
                    f"tools.{name}: its compensation {spec.compensation!r} is not a registered tool; "
                    "declare it with @tool(compensates=...)"
                )
        elif (spec.irreversible or "").strip():
            irreversible.append(name)
        else:
            problems.append(
                f"tools.{name}: write tool {name!r} has no compensation and is not declared irreversible; "
                f'give its @tool compensation="<undo tool>" or irreversible="<why>", or block it'
            )
    if problems:
        return Check("rollback", False, "; ".join(problems))
    parts = [f"on a breach: {action}"]
    if undoable:
        parts.append("undoable: " + ", ".join(undoable))
    if irreversible:
        parts.append("irreversible by declaration: " + ", ".join(irreversible))
    if not undoable and not irreversible:
        parts.append("the agent may use no write tool")
    return Check("rollback", True, "; ".join(parts))


def asks_model(view: CharterView, workflows: Mapping[str, type]) -> bool:
    """Whether the sixth question applies: the charter has ``[model]``, or its workflow's planner asks a model."""
    cls = workflows.get(view.workflow) if view.workflow else None
    return "model" in (view.raw or {}) or bool(getattr(getattr(cls, "planner", None), "needs_model", False))


def model(view: CharterView, workflows: Mapping[str, type]) -> Check:
    """A model-backed agent: the model named, its calls and tokens bounded, its tokens priced."""
    raw = view.raw_model
    if raw is None:
        return Check(
            "model",
            False,
            f"model: workflow {view.workflow}'s planner asks a model but the charter has no [model] table; add one "
            "with model, " + ", ".join(MODEL_LIMITS),
        )
    section = view.model
    if section is None:
        return Check("model", False, view.not_checked("model"))
    problems = [f"model.{key} is not set" for key in MODEL_LIMITS if key not in raw]
    if section.model.startswith(SCRIPTED) and scripted_factory(section.model) is None:
        known = ", ".join(scripted_names()) or "none"
        problems.append(f"model.model: no scripted model {section.model!r} is registered (known: {known})")
    if problems:
        return Check("model", False, "; ".join(problems) + "; write each in [model]")
    detail = (
        f"{section.model}: at most {section.max_model_calls} model calls and {section.max_tokens} tokens a run, "
        f"priced {section.input_token_price:g} / {section.output_token_price:g} per million tokens in / out"
    )
    override = model_override(view.name or "")
    if override is not None and override != section.model:
        names = " or ".join(model_env_names(view.name or ""))
        detail += f"; {names} replaces it with {override} here"
    if importlib.util.find_spec("pydantic_ai") is None:
        detail += "; pydantic-ai is not installed here: its runs fail until `pip install 'mandate[ai]'`"
    return Check("model", True, detail)
