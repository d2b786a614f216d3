"""A charter file as far as it loads, section by section: what the readiness audit reads.

The charter's rules are ``mandate.charter``'s: every problem here is one ``charter_problems`` found,
filed under the audit question its field belongs to. The sections that do load are parsed so the other
questions can still be answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mandate.charter import (
    KillCriteria,
    ModelSection,
    Owners,
    ToolPolicy,
    charter_problems,
    read_charter_data,
)
from mandate.errors import CharterError

__all__ = ["CharterView", "read_view", "question_for"]


def question_for(field_path: str) -> str | None:
    """The question a charter field belongs to; ``None`` for the charter as a whole."""
    head = field_path.split(".", 1)[0]
    if head == "owners":
        return "owners"
    if head == "tools":
        return "authority"
    if field_path == "kill_criteria.action":
        return "rollback"
    if head == "model":
        return "model"
    if head == "kill_criteria":
        return "outcomes"
    return None


@dataclass
class CharterView:
    """What could be read of one charter file, section by section, and what could not."""

    path: Path
    shown: str
    raw: dict[str, Any] | None = None
    owners: Owners | None = None
    tools: dict[str, ToolPolicy] = field(default_factory=dict)
    tool_names: list[str] = field(default_factory=list)
    kill: KillCriteria | None = None
    model: ModelSection | None = None
    errors: dict[str, CharterError] = field(default_factory=dict)  # question -> first error under it
    broken: list[CharterError] = field(default_factory=list)  # every error found, in order

    def fail(self, error: CharterError) -> None:
        self.broken.append(error)
        self.errors.setdefault(question_for(error.field) or "authority", error)

    def not_checked(self, prefix: str) -> str:
        """Why a question cannot be answered: the first error in the part of the charter it needs."""
        for error in self.broken:
            if error.field == prefix or error.field.startswith(prefix + "."):
                question = question_for(error.field) or "authority"
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

    @property
    def raw_model(self) -> dict[str, Any] | None:
        value = (self.raw or {}).get("model")
        return value if isinstance(value, dict) else None

    @property
    def tools_readable(self) -> bool:
        """Whether every tool policy in the charter loaded."""
        if not isinstance((self.raw or {}).get("tools", {}), dict):
            return False
        return all(name in self.tools for name in self.tool_names)


def _parsed(model: type[BaseModel], value: Any) -> Any:
    """The section as its model reads it, or ``None``: its errors are already among the charter's."""
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def read_view(path: Path) -> CharterView:
    view = CharterView(path=path, shown=str(path))
    try:
        view.raw = read_charter_data(path)
    except CharterError as err:
        view.fail(err)
        return view
    for problem in charter_problems(view.raw, view.shown, path.stem):
        view.fail(problem)
    if "owners" in view.raw:
        view.owners = _parsed(Owners, view.raw["owners"])
    tools = view.raw.get("tools", {})
    if isinstance(tools, dict):
        view.tool_names = list(tools)
        parsed = {name: _parsed(ToolPolicy, rule) for name, rule in tools.items()}
        view.tools = {name: rule for name, rule in parsed.items() if rule is not None}
    if view.raw_kill is not None:
        # The action is the rollback question's business (read there from the raw file), so a bad
        # action does not keep the thresholds from being audited.
        thresholds = {key: value for key, value in view.raw_kill.items() if key != "action"}
        view.kill = _parsed(KillCriteria, thresholds)
    if view.raw_model is not None:
        view.model = _parsed(ModelSection, view.raw_model)
    return view
