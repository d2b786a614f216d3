"""The readiness audit: is each agent fit to run in production?

Five questions, one ``Check`` each, asked of every charter:

- ``authority``: every tool the agent can use is registered and has a policy in the charter, and no
  write tool is ``allow`` without a stated reason;
- ``owners``: one named person for workflow design, risk, quality and the stop/go decision;
- ``tool_pattern``: the charter's workflow is a ``GovernedAgent`` serving this agent, and every tool it
  names is declared with ``@tool`` (so authority, cost, compensation and logging come from one place);
- ``outcomes``: ``[kill_criteria]`` sets the window, the minimum samples and every threshold;
- ``rollback``: the breach action is written down, and every write the agent may make can be undone
  (a registered compensation) or is declared irreversible with a reason.

The functions here are pure: they read charter files and inspect the registry and the workflow classes
they are given, never a Temporal server. A charter that does not load is reported, never raised: its
``CharterError`` text (``file: field: reason``) is the detail of the question its field belongs to, and
the other questions are still answered from the parts of the file that do load.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mandate.authority import Authority, Policy
from mandate.charter import KillCriteria, Owners, ToolPolicy, load_charter
from mandate.durations import format_duration
from mandate.errors import CharterError
from mandate.tools import ToolRegistry

__all__ = [
    "QUESTIONS",
    "THRESHOLDS",
    "Check",
    "AgentAudit",
    "audit_charter",
    "audit_directory",
    "render_line",
    "render_audit",
]

#: The five questions, in the order they are asked, with the words an operator reads.
QUESTIONS: dict[str, str] = {
    "authority": "authority boundaries defined",
    "owners": "owners named",
    "tool_pattern": "standard tool pattern",
    "outcomes": "outcomes measured",
    "rollback": "rollback and shutdown defined",
}

#: The kill-criteria thresholds a ready charter sets, each one.
THRESHOLDS = ("max_exception_rate", "max_rework_rate", "max_escalation_rate", "max_cost_per_workflow")

_ACTIONS = ("pause", "cancel", "rollback")


@dataclass(frozen=True)
class Check:
    """The answer to one question: ``detail`` is one line; on failure it names the field and the fix."""

    question: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class AgentAudit:
    """The five checks of one charter file."""

    agent: str
    path: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def check(self, question: str) -> Check:
        """The check answering ``question`` (one of ``QUESTIONS``)."""
        for check in self.checks:
            if check.question == question:
                return check
        raise KeyError(question)


# ----------------------------------------------------------------------------- the charter as far as it loads


@dataclass
class _View:
    """What could be read of one charter file, section by section, and what could not."""

    path: Path
    shown: str
    raw: dict[str, Any] | None = None
    owners: Owners | None = None
    tools: dict[str, ToolPolicy] = field(default_factory=dict)
    tool_names: list[str] = field(default_factory=list)
    kill: KillCriteria | None = None
    errors: dict[str, CharterError] = field(default_factory=dict)  # question -> first error under it
    broken: list[CharterError] = field(default_factory=list)  # every error found, in order

    def fail(self, error: CharterError) -> None:
        self.broken.append(error)
        self.errors.setdefault(_question_for(error.field) or "authority", error)

    def not_checked(self, prefix: str) -> str:
        """Why a question cannot be answered: the first error in the part of the charter it needs."""
        for error in self.broken:
            if error.field == prefix or error.field.startswith(prefix + "."):
                question = _question_for(error.field) or "authority"
                return f"not checked: {error.field} does not load (see {question})"
        return f"not checked: {prefix} does not load"

    @property
    def name(self) -> str | None:
        value = (self.raw or {}).get("name")
        return value if isinstance(value, str) else None

    @property
    def workflow(self) -> str | None:
        value = (self.raw or {}).get("workflow")
        return value if isinstance(value, str) else None

    @property
    def raw_kill(self) -> dict[str, Any] | None:
        value = (self.raw or {}).get("kill_criteria")
        return value if isinstance(value, dict) else None


def _question_for(field_path: str) -> str | None:
    """The question a charter field belongs to; ``None`` for the charter as a whole."""
    head = field_path.split(".", 1)[0]
    if head == "owners":
        return "owners"
    if head == "tools":
        return "authority"
    if field_path == "kill_criteria.action":
        return "rollback"
    if head == "kill_criteria":
        return "outcomes"
    return None


def _charter_error(shown: str, prefix: tuple[str, ...], err: ValidationError) -> CharterError:
    """The same one-line error ``load_charter`` gives, for one section validated on its own."""
    first = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    where = ".".join(str(p) for p in (*prefix, *first["loc"])) or "(charter)"
    if first["type"] == "extra_forbidden":
        return CharterError(shown, where, "unknown field (a typo?)")
    return CharterError(shown, where, first["msg"].removeprefix("Value error, "))


def _section(view: _View, key: tuple[str, ...], model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as err:
        view.fail(_charter_error(view.shown, key, err))
        return None


def _read(path: Path) -> _View:
    view = _View(path=path, shown=str(path))
    try:
        load_charter(path)  # the authoritative first error, worded as everywhere else
    except CharterError as err:
        view.fail(err)
        if err.field in ("(file)", "(toml)"):
            return view
    view.raw = tomllib.loads(path.read_text(encoding="utf-8"))

    if "owners" in view.raw:
        view.owners = _section(view, ("owners",), Owners, view.raw["owners"])
    else:
        view.fail(CharterError(view.shown, "owners", "Field required"))

    tools = view.raw.get("tools", {})
    if isinstance(tools, dict):
        view.tool_names = list(tools)
        for name, rule in tools.items():
            parsed = _section(view, ("tools", name), ToolPolicy, rule)
            if parsed is not None:
                view.tools[name] = parsed
    else:
        view.fail(CharterError(view.shown, "tools", "must be a table of [tools.<name>] entries"))

    kill = view.raw.get("kill_criteria")
    if isinstance(kill, dict):
        # The action is the rollback question's business (checked there from the raw file), so a bad
        # action does not keep the thresholds from being audited.
        thresholds = {key: value for key, value in kill.items() if key != "action"}
        view.kill = _section(view, ("kill_criteria",), KillCriteria, thresholds)
    elif kill is not None:
        view.fail(CharterError(view.shown, "kill_criteria", "must be a table: [kill_criteria]"))
    return view


def _tools_readable(view: _View) -> bool:
    """Whether every tool policy in the charter loaded."""
    if not isinstance((view.raw or {}).get("tools", {}), dict):
        return False
    return all(name in view.tools for name in view.tool_names)


# ----------------------------------------------------------------------------- the five questions


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


def _authority(view: _View, tools: ToolRegistry, workflows: Mapping[str, type]) -> Check:
    if not _tools_readable(view):
        return Check("authority", False, view.not_checked("tools"))
    problems = []
    for name, rule in view.tools.items():
        spec = tools.get(name)
        if spec is None:
            problems.append(
                f"tools.{name}: no tool named {name!r} is registered; declare it with @tool or remove [tools.{name}]"
            )
        elif (
            spec.authority is Authority.WRITE
            and rule.policy is Policy.ALLOW
            and not (rule.reason or "").strip()
        ):
            problems.append(
                f"tools.{name}.policy: write tool {name!r} is 'allow' without a reason; "
                f'add reason = "..." or use policy = "approve"'
            )
    cls = workflows.get(view.workflow) if view.workflow else None
    declared = _declared_tools(cls)
    for name in declared or ():
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


def _owners(view: _View) -> Check:
    if view.owners is None:
        return Check("owners", False, view.not_checked("owners"))
    o = view.owners
    return Check(
        "owners", True, f"workflow {o.workflow}, risk {o.risk}, quality {o.quality}, stop_go {o.stop_go}"
    )


def _tool_pattern(view: _View, tools: ToolRegistry, workflows: Mapping[str, type]) -> Check:
    from mandate.workflows.governed import (
        GovernedAgent,  # here, so that `mandate` never imports `workflows` at load
    )

    problems = []
    cls = None
    if view.workflow is None:
        problems.append('workflow: not set; add workflow = "<the agent\'s workflow type name>"')
    else:
        cls = workflows.get(view.workflow)
        if cls is None:
            known = ", ".join(sorted(workflows)) or "none"
            problems.append(
                f"workflow: no agent workflow is named {view.workflow!r} (known: {known}); "
                "name one of them or define and register the workflow"
            )
        elif not (isinstance(cls, type) and issubclass(cls, GovernedAgent)):
            problems.append(
                f"workflow: {view.workflow} is not a GovernedAgent; derive it from "
                "mandate.GovernedAgent so every tool call goes through the registry and the charter"
            )
        else:
            agent = getattr(cls, "agent", None)
            if agent != view.name:
                problems.append(
                    f"workflow: {view.workflow} serves agent {agent!r}, not {view.name!r}; "
                    f"set agent = {view.name!r} on the class or name the right workflow"
                )
    for name in view.tool_names:
        if name not in tools:
            problems.append(f"tools.{name}: {name!r} is not declared with @tool")
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


def _outcomes(view: _View) -> Check:
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


def _rollback(view: _View, tools: ToolRegistry) -> Check:
    problems = []
    raw = view.raw_kill
    action = None if raw is None else raw.get("action")
    if action is None:
        where = "" if raw is not None else " (there is no [kill_criteria] table)"
        problems.append(
            f"kill_criteria.action is not set{where}; write the breach action: "
            'action = "pause" | "cancel" | "rollback"'
        )
    elif action not in _ACTIONS:
        problems.append(f"kill_criteria.action: {action!r} is not one of pause, cancel, rollback")
    if not _tools_readable(view):
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


# ----------------------------------------------------------------------------- entry points


def audit_charter(path: Path, *, tools: ToolRegistry, workflows: Mapping[str, type]) -> AgentAudit:
    """The five checks of one charter file; a charter that does not load is reported, never raised."""
    path = Path(path)
    view = _read(path)
    agent = view.name or path.stem
    if view.raw is None:  # the file cannot be read at all: nothing else can be answered
        error = view.broken[0]
        rest = f"not checked: {view.shown} does not load (see authority)"
        checks = [Check(q, False, str(error) if i == 0 else rest) for i, q in enumerate(QUESTIONS)]
        return AgentAudit(agent=agent, path=view.shown, checks=checks)

    answer: dict[str, Callable[[], Check]] = {
        "authority": lambda: _authority(view, tools, workflows),
        "owners": lambda: _owners(view),
        "tool_pattern": lambda: _tool_pattern(view, tools, workflows),
        "outcomes": lambda: _outcomes(view),
        "rollback": lambda: _rollback(view, tools),
    }
    checks = []
    for question, ask in answer.items():
        failed = view.errors.get(question)
        checks.append(Check(question, False, str(failed)) if failed is not None else ask())
    return AgentAudit(agent=agent, path=view.shown, checks=checks)


def audit_directory(
    directory: Path, *, tools: ToolRegistry, workflows: Mapping[str, type]
) -> list[AgentAudit]:
    """The audit of every ``*.toml`` charter in a directory, sorted by file name.

    Raises ``CharterError`` only when the directory itself does not exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CharterError(str(directory), "(directory)", "no such charters directory")
    return [
        audit_charter(path, tools=tools, workflows=workflows) for path in sorted(directory.glob("*.toml"))
    ]


# ----------------------------------------------------------------------------- rendering (kept apart)


def render_line(check: Check) -> str:
    """``ok   owners         workflow ana@…`` — one line per check."""
    return f"{'ok' if check.ok else 'FAIL':<4}  {check.question:<12}  {check.detail}"


def render_audit(audit: AgentAudit) -> list[str]:
    """A heading for the agent, then one indented line per check."""
    verdict = "ready" if audit.ready else "NOT READY"
    return [f"{audit.agent} ({audit.path}): {verdict}", *(f"  {render_line(c)}" for c in audit.checks)]
