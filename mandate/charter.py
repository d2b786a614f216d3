"""Charters: who owns an agent, what it may do, and when it must be stopped.

A charter is a TOML file in ``charters/``. Loading validates it with pydantic and
against the tool registry; any failure is a ``CharterError`` naming the file, the
field and the reason.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from mandate.authority import Authority, Policy
from mandate.durations import Duration
from mandate.errors import CharterError

if TYPE_CHECKING:
    from mandate.tools import ToolRegistry

__all__ = ["Charter", "Owners", "ToolPolicy", "KillCriteria", "load_charter", "load_charters"]

Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Owners(_Strict):
    """One named person for each decision about the agent."""

    workflow: Person = Field(description="designs the workflow")
    risk: Person = Field(description="takes risk decisions")
    quality: Person = Field(description="sets quality thresholds")
    stop_go: Person = Field(description="kills and resumes the agent")


class ToolPolicy(_Strict):
    """What the agent may do with one tool."""

    policy: Policy
    approvers: list[Person] = Field(default_factory=list)
    approval_timeout: Duration = Field(default="4h", validate_default=True)  # type: ignore[assignment]
    escalate_to: list[Person] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="why a write tool may run without approval")

    @model_validator(mode="after")
    def _approvers_for_approval(self) -> ToolPolicy:
        if self.policy is Policy.APPROVE and not self.approvers:
            raise ValueError("policy 'approve' needs at least one name in approvers")
        return self


class KillCriteria(_Strict):
    """Thresholds over a window; a breach triggers ``action``."""

    window: Duration = Field(default="1h", validate_default=True)  # type: ignore[assignment]
    min_samples: int = Field(default=20, ge=1)
    max_exception_rate: float | None = Field(default=None, ge=0, le=1)
    max_rework_rate: float | None = Field(default=None, ge=0, le=1)
    max_escalation_rate: float | None = Field(default=None, ge=0, le=1)
    max_cost_per_workflow: float | None = Field(default=None, ge=0)
    action: Literal["pause", "cancel", "rollback"] = "pause"
    check_every: Duration = Field(default="30s", validate_default=True)  # type: ignore[assignment]


class Charter(_Strict):
    """An agent's mandate."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    workflow: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: str = ""
    owners: Owners
    tools: dict[str, ToolPolicy] = Field(default_factory=dict)
    kill_criteria: KillCriteria | None = None

    def policy_for(self, tool: str) -> ToolPolicy:
        """Default deny: a tool the charter does not name is blocked."""
        return self.tools.get(tool) or ToolPolicy(policy=Policy.BLOCK)


def load_charter(path: str | Path, tools: ToolRegistry | None = None) -> Charter:
    """Read and validate one charter file; with ``tools``, also check it against the registry."""
    path = Path(path)
    shown = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CharterError(shown, "(file)", "no such file") from None
    except IsADirectoryError:
        raise CharterError(shown, "(file)", "is a directory, not a charter file") from None
    except UnicodeDecodeError:
        raise CharterError(shown, "(file)", "not UTF-8 text") from None
    except OSError as err:
        raise CharterError(shown, "(file)", f"cannot be read: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise CharterError(shown, "(toml)", str(err)) from None
    try:
        charter = Charter.model_validate(data)
    except ValidationError as err:
        # An unknown field is usually a typo of a required one: name the typo first.
        first = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        field = ".".join(str(p) for p in first["loc"]) or "(charter)"
        if first["type"] == "extra_forbidden":
            raise CharterError(shown, field, "unknown field (a typo?)") from None
        msg = first["msg"].removeprefix("Value error, ")
        raise CharterError(shown, field, msg) from None
    if charter.name != path.stem:
        raise CharterError(shown, "name", f"{charter.name!r} does not match the file name {path.stem!r}")
    if tools is not None:
        _check_against_registry(shown, charter, tools)
    return charter


def _check_against_registry(shown: str, charter: Charter, tools: ToolRegistry) -> None:
    for name, rule in charter.tools.items():
        spec = tools.get(name)
        if spec is None:
            raise CharterError(shown, f"tools.{name}", f"no tool named {name!r} is registered")
        if (
            spec.authority is Authority.WRITE
            and rule.policy is Policy.ALLOW
            and not (rule.reason or "").strip()
        ):
            raise CharterError(
                shown,
                f"tools.{name}.policy",
                "a write tool may only be 'allow' with a stated reason; add reason = \"...\" or use 'approve'",
            )


def load_charters(directory: str | Path, tools: ToolRegistry | None = None) -> dict[str, Charter]:
    """Every ``*.toml`` charter in a directory, by agent name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CharterError(str(directory), "(directory)", "no such charters directory")
    charters: dict[str, Charter] = {}
    for path in sorted(directory.glob("*.toml")):
        charter = load_charter(path, tools)
        charters[charter.name] = charter
    return charters
