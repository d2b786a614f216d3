"""The monitor's rules, apart from its workflow: the thresholds, what it carries, and checking what it carried.

Pure: no workflow API, no clock (times come from the statements and the caller).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from mandate.approvals.proof import verify_fleet_order
from mandate.charter import KillCriteria
from mandate.decisions import same_person
from mandate.errors import Refused
from mandate.keys import KeySet
from mandate.outcomes import Breach, Evaluation, KillDecision, OutcomeMetrics, PauseState
from mandate.statements import Act, SignedStatement, verify_statement

__all__ = [
    "SIGNED_AUTHORITY",
    "KEEP_DECISIONS",
    "CHECKS_PER_RUN",
    "IDLE_RELOAD",
    "ENFORCE_RETRY",
    "MonitorInput",
    "evaluate",
    "check_carried",
    "require_signed_order",
    "require_stop_go",
]

SIGNED_AUTHORITY = "signed-authority"
KEEP_DECISIONS = 20
CHECKS_PER_RUN = 200
IDLE_RELOAD = timedelta(minutes=5)
#: Enforcement is bounded: a run that cannot be reached is named, not retried without end.
ENFORCE_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=["KeysError"])


class MonitorInput(BaseModel):
    """Carried across continue-as-new."""

    agent: str
    pause: PauseState | None = None
    decisions: list[KillDecision] = Field(default_factory=list)
    last_evaluation: Evaluation | None = None
    checks_per_run: int = Field(default=CHECKS_PER_RUN, ge=1, description="checks before continue-as-new")
    # The signed kills and resumes this monitor has taken and that are not expired yet (key id/nonce ->
    # expiry): each is taken once, across continue-as-new too.
    used_orders: dict[str, int] = Field(default_factory=dict)


def evaluate(metrics: OutcomeMetrics, criteria: KillCriteria, at) -> Evaluation:  # noqa: ANN001
    """Compare metrics with thresholds (pure)."""
    thresholds: dict[str, float | int | str] = {
        "window": str(criteria.window),
        "min_samples": criteria.min_samples,
        "action": criteria.action,
    }
    checks = [
        ("exception_rate", metrics.exception_rate, criteria.max_exception_rate),
        ("rework_rate", metrics.rework_rate, criteria.max_rework_rate),
        ("escalation_rate", metrics.escalation_rate, criteria.max_escalation_rate),
        ("cost_per_completed", metrics.cost_per_completed, criteria.max_cost_per_workflow),
    ]
    breaches = []
    enough = metrics.runs >= criteria.min_samples
    for name, value, limit in checks:
        if limit is None:
            continue
        thresholds[f"max_{name}" if name != "cost_per_completed" else "max_cost_per_workflow"] = limit
        if enough and value > limit:
            breaches.append(Breach(metric=name, value=value, threshold=limit))
    return Evaluation(at=at, metrics=metrics, thresholds=thresholds, breaches=breaches, enough_samples=enough)



def check_carried(decisions: list[KillDecision], pause: PauseState, keys: KeySet, agent: str) -> PauseState:
    """Mark each carried decision verified or not; a resume that does not verify moves no window.

    A carried decision whose statement does not verify with today's keys is kept but marked unverified
    (so a forged "resume approved by the CFO" shows as such), and the monitor then judges every run again.
    """
    for decision in decisions:
        decision.verified = _verifies(decision, keys, agent)
    last_resume = next((d for d in reversed(decisions) if d.action == "resume"), None)
    if pause.since is not None and (last_resume is None or not last_resume.verified):
        pause = pause.model_copy(update={"since": None})
    if pause.decision is not None:
        pause.decision.verified = _verifies(pause.decision, keys, agent)
    return pause


def _verifies(decision: KillDecision, keys: KeySet, agent: str) -> bool:
    if decision.statement is None or not same_person(decision.statement.signer, decision.by):
        return False
    try:
        verify_statement(
            decision.statement,
            keys,
            now=datetime.fromtimestamp(decision.statement.issued_at, UTC),
            expect={"agent": agent},
        )
    except Refused:
        return False
    return True


def require_stop_go(who: str, pause: PauseState) -> None:
    """An ``ApplicationError`` (the update's answer) unless ``who`` is the agent's stop/go owner."""
    if not same_person(who, pause.stop_go_owner):
        raise ApplicationError(
            f"{who} is not the stop/go owner of {pause.agent} (only {pause.stop_go_owner} may kill or resume it)",
            type="NotStopGoOwner",
            non_retryable=True,
        )


def require_signed_order(
    statement: SignedStatement | None,
    act: Act,
    keys: KeySet,
    namespace: str,
    pause: PauseState,
    workflow_id: str,
    now: datetime,
) -> None:
    """An ``ApplicationError`` (the update's answer) unless the stop/go owner signed this kill or resume."""
    try:
        verify_fleet_order(
            statement,
            act=act,
            keys=keys,
            namespace=namespace,
            agent=pause.agent,
            stop_go=pause.stop_go_owner,
            workflow_id=workflow_id,
            now=now,
        )
    except Refused as refusal:
        raise ApplicationError(str(refusal), type="NotStopGoOwner", non_retryable=True) from None
