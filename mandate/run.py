"""What goes in and out of a governed agent run: workflow input, status, result, activity IO."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from mandate.authority import Authority, Policy
from mandate.charter import Charter, Owners
from mandate.decisions import ApprovalRequest, Decision, KillRecord, RefusedDecision
from mandate.keys import KeySet
from mandate.statements import SignedStatement

__all__ = [
    "GOVERNED_PROTOCOL",
    "RUN_BOUND_KILLS",
    "AgentRunInput",
    "AgentMandate",
    "LoadMandateInput",
    "ToolInfo",
    "ToolCallInput",
    "ToolCallResult",
    "RunState",
    "StepStatus",
    "Step",
    "CompensationStatus",
    "Compensation",
    "AgentStatus",
    "AgentResult",
]


class AgentRunInput(BaseModel):
    """The one input of every agent workflow."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(default_factory=dict)
    requested_by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    # The requester's signed start (``mandate start`` signs as --requested-by): it proves who asked, so
    # self-approval is checked against a proven requester. Runs from protocol 4 refuse to start without it.
    start: SignedStatement | None = None


class ToolInfo(BaseModel):
    """What the workflow needs to know about a tool (the registry entry without the code)."""

    name: str
    authority: Authority
    cost: float = 0.0
    compensation: str | None = None
    compensates: str | None = None
    irreversible: str | None = None
    description: str = ""
    # How long one attempt may run (start-to-close). None: the workflow's default, 5 minutes; also what
    # runs recorded before tools declared it read, so their histories replay unchanged.
    timeout_seconds: float | None = None
    # The JSON schema of the tool's arguments, for a model to read. Filled only for agents whose charter
    # has a [model] section, and left out of the serialised form when absent, so no other agent's
    # load_mandate marker grows.
    args_schema: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _without_absent_schema(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = dump(self)
        if self.args_schema is None:
            data.pop("args_schema", None)
        return data


class LoadMandateInput(BaseModel):
    agent: str
    # From protocol 4 the worker also checks the start: the requester's statement and the agent's pause.
    requested_by: str | None = None
    input_hash: str | None = None
    start: SignedStatement | None = None


# The version of the governed loop's behaviour after the charter is loaded. The worker's
# load_mandate writes it into the local-activity marker every run records anyway, so a run keeps the
# version it started with on any worker that replays it, at no extra history event (workflow.patched
# costs a marker and a TemporalChangeVersion upsert per run). Runs recorded before it existed read 1.
#   1: before: search attributes per change, or coalesced behind the "coalesce-search-attributes" patch
#   2: coalesced search attributes, no patch marker
#   3: an approved write starts without publishing first: the attributes still read "waiting" while
#      it runs and are written at the run's next wait, once instead of twice
#   4: signed authority: decisions, kills and the start are signed statements the run verifies (a tool
#      may accept unsigned decisions if its charter says so); a write's idempotency key names the run
#   5: kills bound to the run: a kill must name this workflow id (the monitor signs one for each run it
#      stops, naming its run id too), and one issued before the run started is refused, so a fleet order
#      copied out of a history stops nothing new
GOVERNED_PROTOCOL = 5
RUN_BOUND_KILLS = 5


class AgentMandate(BaseModel):
    """The charter and tool catalogue a run is governed by, as the worker had them at its start."""

    charter: Charter
    tools: dict[str, ToolInfo]
    protocol: int = 1
    # Protocol 4: the public keys of the people this charter names (and the monitor's service key), and
    # the digest of the keys file they came from, so a replay verifies with the keys then in force.
    keys: KeySet = Field(default_factory=KeySet)
    # Protocol 4: why the worker refused to start the run (unsigned or forged start, agent paused).
    refused: str | None = None
    # Protocol 4: the namespace the run lives in, as the worker saw it (a replay runs in another), which
    # every statement the run verifies must name.
    namespace: str = ""
    workflow_id: str = ""  # likewise: a history file replays under its file name, not the run's id


class ToolCallInput(BaseModel):
    """The one input of every tool activity."""

    agent: str
    args: dict[str, Any]
    idempotency_key: str | None = None
    # The signed statement the call runs under: the approval of a gated write, or the kill that
    # ordered a compensation. The activity verifies it again with the worker's own keys.
    authority: SignedStatement | None = None


class ToolCallResult(BaseModel):
    output: dict[str, Any]
    cost: float = 0.0


class RunState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    KILLED = "killed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


class StepStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    DROPPED = "dropped"
    # The planner proposed arguments the tool's own model refuses: never run, never put to a person;
    # a model-backed planner sends the validation error back to the model.
    INVALID = "invalid"


class Step(BaseModel):
    """One tool call the planner proposed, and what became of it."""

    index: int
    tool: str
    authority: Authority | None
    policy: Policy
    args: dict[str, Any]
    args_hash: str
    status: StepStatus
    why: str = ""
    request_id: str | None = None
    idempotency_key: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None


class CompensationStatus(StrEnum):
    """What became of one write's compensation (the values are in recorded histories and reports)."""

    PENDING = "pending"  # not run yet
    DONE = "done"  # undone
    FAILED = "failed"  # the compensation failed after its retries: the run fails as RollbackIncomplete
    NOT_UNDOABLE = "not_undoable"  # the tool has no compensation: the write stays


class Compensation(BaseModel):
    """How to undo one completed write (run on rollback, newest first)."""

    step: int
    tool: str
    compensation: str | None
    irreversible: str | None = None
    args: dict[str, Any]
    idempotency_key: str
    status: CompensationStatus = CompensationStatus.PENDING
    error: str | None = None


class AgentStatus(BaseModel):
    """What the ``status`` query returns."""

    workflow_id: str
    agent: str
    state: RunState
    requested_by: str
    input: dict[str, Any]
    owners: Owners | None
    steps: list[Step]
    pending: list[ApprovalRequest]
    requests: list[ApprovalRequest]
    decisions: list[Decision]
    refused: list[RefusedDecision]
    refused_total: int
    violations: int
    escalations: int
    rejections: int
    cost: float
    compensations: list[Compensation]
    killed: KillRecord | None = None
    outcome: str | None = None
    summary: str | None = None


class AgentResult(BaseModel):
    """What an agent run returns when it ends."""

    agent: str
    state: RunState
    outcome: str
    summary: str
    steps: int
    cost: float
    violations: int
    rejections: int
    escalations: int
    refused_decisions: int
