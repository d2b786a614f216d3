"""Outcome metrics and kill decisions: the types the monitor, the CLI and the runs share."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from mandate.charter import KillAction
from mandate.statements import SignedStatement

__all__ = [
    "OutcomeMetrics",
    "MetricsQuery",
    "Breach",
    "Evaluation",
    "KillDecision",
    "PauseState",
    "PauseNotice",
    "EnforceInput",
    "EnforceResult",
    "ResumeInput",
    "KillAction",
    "DecisionAction",
]

DecisionAction = Literal[KillAction, "resume"]


class MetricsQuery(BaseModel):
    agent: str
    window_seconds: float = Field(gt=0)
    since: datetime | None = Field(
        default=None, description="ignore runs started before this (the last resume)"
    )
    # Count only runs of the charter's own workflow type on Mandate's task queue: search attributes are
    # whatever a starter wrote, so a workflow of another type that claims MandateAgent is not counted.
    workflow_type: str | None = None
    task_queue: str | None = None


class OutcomeMetrics(BaseModel):
    """System outcomes of one agent over a window, computed from Temporal visibility alone."""

    agent: str
    window_start: datetime
    window_end: datetime
    runs: int = Field(description="runs started in the window")
    completed: int
    failed: int = Field(description="ended failed, terminated, timed out or cancelled")
    running: int
    rework_runs: int = Field(description="a person rejected an action the agent proposed")
    exception_runs: int = Field(description="failed, killed, a policy violation or a tool error")
    exception_causes: dict[str, int] = Field(
        default_factory=dict, description="what the exception runs were, by cause (a run may have two)"
    )
    escalated_runs: int = Field(description="a decision went past the first approvers")
    unverified_runs: int = Field(
        default=0, description="claimed the agent but no worker verified their start: not counted above"
    )
    total_cost: float
    throughput_per_hour: float
    rework_rate: float
    exception_rate: float
    escalation_rate: float
    cost_per_completed: float


class Breach(BaseModel):
    metric: str
    value: float
    threshold: float


class Evaluation(BaseModel):
    """One check of the kill criteria."""

    at: datetime
    metrics: OutcomeMetrics
    thresholds: dict[str, float | int | str]
    breaches: list[Breach]
    enough_samples: bool


class KillDecision(BaseModel):
    """A stop taken by the monitor or by the stop/go owner, with its evidence."""

    at: datetime
    agent: str
    by: str
    reason: str
    action: DecisionAction
    evaluation: Evaluation | None = None
    workflows: list[str] = Field(default_factory=list)
    workflow: str | None = Field(default=None, description="set when one run was killed by hand")
    # The signed order: the stop/go owner's, or the one the monitor's service key signed for a breach.
    statement: SignedStatement | None = None
    verified: bool = False
    unreachable: list[str] = Field(default_factory=list, description="runs the kill could not reach")


class PauseState(BaseModel):
    """Whether new starts of an agent are refused, and why."""

    agent: str
    paused: bool
    stop_go_owner: str
    decision: KillDecision | None = None
    since: datetime | None = Field(
        default=None, description="runs before this were dealt with at the last resume"
    )


class PauseNotice(BaseModel):
    """What a monitor publishes in its memo (``mandate.contract.PAUSE_MEMO``) whenever its pause changes.

    Enough to refuse a start and say why, read by one describe of the monitor (the server answers alone),
    where a ``pause_state`` query costs the monitor's worker an activation for every start.
    """

    paused: bool
    stop_go_owner: str
    by: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, pause: PauseState) -> PauseNotice:
        decision = pause.decision if pause.paused else None
        return cls(
            paused=pause.paused,
            stop_go_owner=pause.stop_go_owner,
            by=decision.by if decision else None,
            reason=decision.reason if decision else None,
        )


class EnforceInput(BaseModel):
    agent: str
    action: KillAction
    by: str
    reason: str
    workflow: str | None = None
    workflow_type: str | None = None
    task_queue: str | None = None
    # The stop/go owner's signed kill, which the monitor verified: passed on to each run as evidence of
    # who ordered it. Each run's authority is a kill the enforcing activity signs with the monitor's
    # service key for that run alone (None for a breach: the monitor itself orders it).
    statement: SignedStatement | None = None


class EnforceResult(BaseModel):
    workflows: list[str]
    # Whether each run's kill was signed with the monitor's service key. No statement comes back: an
    # activity never hands a signed statement to its caller.
    signed: bool = False
    unreachable: list[str] = Field(default_factory=list)


class ResumeInput(BaseModel):
    by: str
    reason: str
    statement: SignedStatement | None = None
