"""Charters: who owns an agent, what it may do, and when it must be stopped.

A charter is a TOML file in ``charters/``. Loading validates it with pydantic and
against the tool registry; any failure is a ``CharterError`` naming the file, the
field and the reason. Every rule a charter must follow is written here once: loading
raises the first broken one, and the readiness audit (``mandate.worker.audit``) asks
the same functions for all of them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from mandate.authority import Authority, Policy
from mandate.durations import Duration
from mandate.errors import CharterError

if TYPE_CHECKING:
    from mandate.tools import ToolRegistry

__all__ = [
    "Charter",
    "Owners",
    "ToolPolicy",
    "KillCriteria",
    "ModelSection",
    "MODEL_LIMITS",
    "KillAction",
    "KILL_ACTIONS",
    "THRESHOLDS",
    "load_charter",
    "load_charters",
    "charter_files",
    "read_charter_data",
    "charter_problems",
    "registry_problems",
]

Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

#: What the monitor does when a kill criterion is breached.
KillAction = Literal["pause", "cancel", "rollback"]
KILL_ACTIONS: tuple[str, ...] = get_args(KillAction)


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
    accept_unsigned: bool | None = Field(
        default=None,
        description="accept decisions by plain name (not signed); default: no for write tools, yes for reads",
    )

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
    action: KillAction = "pause"
    check_every: Duration = Field(default="30s", validate_default=True)  # type: ignore[assignment]


class ModelSection(_Strict):
    """The model a model-backed agent's planner asks (``[model]``), and what the agent may spend on it."""

    model: str = Field(description="a pydantic-ai model string, or scripted:<name>")
    system_prompt: str = Field(default="", max_length=20_000)
    max_model_calls: int = Field(default=20, ge=1, le=1_000)
    max_tokens: int = Field(default=200_000, ge=1)
    input_token_price: float | None = Field(default=None, ge=0, description="per million input tokens")
    output_token_price: float | None = Field(default=None, ge=0, description="per million output tokens")

    @field_validator("model")
    @classmethod
    def _model_string(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 200 or any(c.isspace() for c in value):
            raise ValueError("name a model as pydantic-ai does, without spaces, e.g. openai:gpt-4o-mini")
        return value


#: The ``[model]`` fields the readiness audit wants written down rather than left to their defaults.
MODEL_LIMITS: tuple[str, ...] = ("max_model_calls", "max_tokens", "input_token_price", "output_token_price")


#: The kill-criteria thresholds (every ``max_…`` field), in the order the charter lists them.
THRESHOLDS: tuple[str, ...] = tuple(name for name in KillCriteria.model_fields if name.startswith("max_"))


class Charter(_Strict):
    """An agent's mandate."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    workflow: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: str = ""
    owners: Owners
    tools: dict[str, ToolPolicy] = Field(default_factory=dict)
    kill_criteria: KillCriteria | None = None
    model: ModelSection | None = None

    @model_serializer(mode="wrap")
    def _without_absent_model(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A charter without [model] serialises as it did before the section existed: the load_mandate
        # marker of every other agent keeps its size.
        data: dict[str, Any] = dump(self)
        if self.model is None:
            data.pop("model", None)
        return data

    def policy_for(self, tool: str) -> ToolPolicy:
        """Default deny: a tool the charter does not name is blocked."""
        return self.tools.get(tool) or ToolPolicy(policy=Policy.BLOCK)


def read_charter_data(path: str | Path) -> dict[str, Any]:
    """The TOML of one charter file; a file that cannot be read or parsed is a ``CharterError``."""
    path = Path(path)
    shown = str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
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


def _validate(data: Any, shown: str, stem: str | None) -> tuple[Charter | None, list[CharterError]]:
    try:
        charter = Charter.model_validate(data)
    except ValidationError as err:
        # An unknown field is usually a typo of a required one: name the typos first.
        found = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
        problems = []
        for error in found:
            field = ".".join(str(p) for p in error["loc"]) or "(charter)"
            if error["type"] == "extra_forbidden":
                problems.append(CharterError(shown, field, "unknown field (a typo?)"))
            else:
                problems.append(CharterError(shown, field, error["msg"].removeprefix("Value error, ")))
        charter = None
    else:
        problems = []
    name = data.get("name") if isinstance(data, dict) else None
    named = any(p.field == "name" for p in problems)  # a name that is itself invalid is reported as such
    if stem is not None and isinstance(name, str) and name != stem and not named:
        problems.append(CharterError(shown, "name", f"{name!r} does not match the file name {stem!r}"))
    return (charter if not problems else None), problems


def charter_problems(data: Any, shown: str, stem: str | None = None) -> list[CharterError]:
    """Everything wrong with a charter's data, unknown fields first; with ``stem``, the name must match it."""
    return _validate(data, shown, stem)[1]


def registry_problems(
    shown: str, policies: Mapping[str, ToolPolicy], tools: ToolRegistry
) -> list[CharterError]:
    """What the tool policies break against the registered tools, in charter order."""
    problems = []
    for name, rule in policies.items():
        spec = tools.get(name)
        if spec is None:
            problems.append(
                CharterError(
                    shown,
                    f"tools.{name}",
                    f"no tool named {name!r} is registered; declare it with @tool or remove [tools.{name}]",
                )
            )
        elif (
            spec.authority is Authority.WRITE
            and rule.policy is Policy.ALLOW
            and not (rule.reason or "").strip()
        ):
            problems.append(
                CharterError(
                    shown,
                    f"tools.{name}.policy",
                    f"write tool {name!r} is 'allow' without a reason; "
                    'add reason = "..." or use policy = "approve"',
                )
            )
    return problems


def load_charter(path: str | Path, tools: ToolRegistry | None = None) -> Charter:
    """Read and validate one charter file; with ``tools``, also check it against the registry."""
    path = Path(path)
    charter, problems = _validate(read_charter_data(path), str(path), path.stem)
    if charter is None:
        raise problems[0]
    if tools is not None:
        for problem in registry_problems(str(path), charter.tools, tools):
            raise problem
    return charter


def charter_files(directory: str | Path) -> list[Path]:
    """The ``*.toml`` files of a charters directory, sorted; a missing directory is a ``CharterError``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CharterError(str(directory), "(directory)", "no such charters directory")
    return sorted(directory.glob("*.toml"))


def load_charters(directory: str | Path, tools: ToolRegistry | None = None) -> dict[str, Charter]:
    """Every ``*.toml`` charter in a directory, by agent name."""
    charters: dict[str, Charter] = {}
    for path in charter_files(directory):
        charter = load_charter(path, tools)
        charters[charter.name] = charter
    return charters
