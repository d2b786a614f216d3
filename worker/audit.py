"""The readiness audit: is each agent fit to run in production? The worker asks it before serving one.

Five questions, one ``Check`` each, asked of every charter:

- ``authority``: every tool the agent can use is registered and has a policy in the charter, and no
  write tool is ``allow`` without a stated reason;
- ``owners``: one named person for workflow design, risk, quality and the stop/go decision;
- ``tool_pattern``: the charter's workflow is a ``GovernedAgent`` serving this agent, and every tool it
  names is declared with ``@tool`` (so authority, cost, compensation and logging come from one place);
- ``outcomes``: ``[kill_criteria]`` sets the window, the minimum samples and every threshold;
- ``rollback``: the breach action is written down, and every write the agent may make can be undone
  (a registered compensation) or is declared irreversible with a reason.

A model-backed agent (a ``[model]`` table, or a workflow whose planner asks a model) is asked a sixth,
``model``: the model named, its calls and tokens per run bounded, its tokens priced.

The functions here are pure: they read charter files and inspect the registry and the workflow classes
they are given, never a Temporal server. A charter that does not load is reported, never raised: each
``CharterError`` that ``mandate.charter`` finds in it (``file: field: reason``) is the detail of the
question its field belongs to, and the other questions are still answered from the parts that load.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mandate.charter import THRESHOLDS, charter_files
from mandate.tools import ToolRegistry
from mandate.worker import _audit_checks as ask
from mandate.worker._audit_checks import Check
from mandate.worker._audit_view import read_view

__all__ = [
    "QUESTIONS",
    "MODEL_QUESTION",
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
#: Asked only of model-backed agents, after the five.
MODEL_QUESTION: dict[str, str] = {"model": "model named, bounded and priced"}


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


def audit_charter(path: Path, *, tools: ToolRegistry, workflows: Mapping[str, type]) -> AgentAudit:
    """The five checks of one charter file; a charter that does not load is reported, never raised."""
    path = Path(path)
    view = read_view(path)
    agent = view.name or path.stem
    if view.raw is None:  # the file cannot be read at all: nothing else can be answered
        error = view.broken[0]
        rest = f"not checked: {view.shown} does not load (see authority)"
        checks = [Check(q, False, str(error) if i == 0 else rest) for i, q in enumerate(QUESTIONS)]
        return AgentAudit(agent=agent, path=view.shown, checks=checks)

    answer: dict[str, Callable[[], Check]] = {
        "authority": lambda: ask.authority(view, tools, workflows),
        "owners": lambda: ask.owners(view),
        "tool_pattern": lambda: ask.tool_pattern(view, tools, workflows),
        "outcomes": lambda: ask.outcomes(view),
        "rollback": lambda: ask.rollback(view, tools),
    }
    if ask.asks_model(view, workflows):
        answer["model"] = lambda: ask.model(view, workflows)
    checks = []
    for question, asked in answer.items():
        failed = view.errors.get(question)
        checks.append(Check(question, False, str(failed)) if failed is not None else asked())
    return AgentAudit(agent=agent, path=view.shown, checks=checks)


def audit_directory(
    directory: Path, *, tools: ToolRegistry, workflows: Mapping[str, type]
) -> list[AgentAudit]:
    """The audit of every ``*.toml`` charter in a directory, sorted by file name.

    Raises ``CharterError`` only when the directory itself does not exist.
    """
    return [audit_charter(path, tools=tools, workflows=workflows) for path in charter_files(directory)]


def render_line(check: Check) -> str:
    """``ok   owners         workflow ana@…`` — one line per check."""
    return f"{'ok' if check.ok else 'FAIL':<4}  {check.question:<12}  {check.detail}"


def render_audit(audit: AgentAudit, width: int | None = None) -> list[str]:
    """A heading for the agent, then one indented line per check.

    With ``width``, every line fits in it: a check's detail wraps under itself, and a heading too long
    for it reads ``agent: verdict`` with the charter's path on a line of its own. A word too long for the
    detail's column (a path) is never cut: it goes whole on a line of its own, further left.
    """
    verdict = "ready" if audit.ready else "NOT READY"
    heading = f"{audit.agent} ({audit.path}): {verdict}"
    if width is None:
        return [heading, *(f"  {render_line(c)}" for c in audit.checks)]
    lines = [heading] if len(heading) <= width else [f"{audit.agent}: {verdict}", f"  {audit.path}"]
    for check in audit.checks:
        lead = f"  {render_line(Check(check.question, check.ok, ''))}"
        room = max(20, width - len(lead))
        parts = textwrap.wrap(check.detail, room, break_long_words=False, break_on_hyphens=False) or [""]
        if len(parts[0]) > room:  # one word too long for the column: the label alone, the word below
            lines.append(lead.rstrip())
        else:
            lines.append(lead + parts.pop(0))
        for part in parts:
            pad = len(lead) if len(part) <= room else max(4, width - len(part))
            lines.append(" " * pad + part)
    return lines
