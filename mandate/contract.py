"""The names other programs rely on: every signal, update, query and Mandate activity, in one place.

The Temporal Web UI, the stock ``temporal`` CLI and users' scripts send these names; the workflows
declare their handlers with them and the client API calls them, so a name is written once, here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Signal",
    "Update",
    "Query",
    "RunFlag",
    "LOAD_MANDATE_ACTIVITY",
    "EVALUATE_ACTIVITY",
    "ENFORCE_ACTIVITY",
    "MODEL_STEP_ACTIVITY",
    "MONITOR",
    "MONITOR_WORKFLOW",
    "PAUSE_MEMO",
    "monitor_id",
]


class Signal(StrEnum):
    """Signals a governed run takes (also listed by name in the Web UI's "Send a Signal")."""

    APPROVE = "approve"
    REJECT = "reject"
    KILL = "kill"


class Update(StrEnum):
    """Updates: a governed run takes ``decide`` and ``kill``; a monitor takes ``kill`` and ``resume``."""

    DECIDE = "decide"
    KILL = "kill"
    RESUME = "resume"


class Query(StrEnum):
    """Queries: a governed run answers ``status``, ``pending_approvals`` and ``decision_context``; a monitor
    the other two."""

    STATUS = "status"
    PENDING_APPROVALS = "pending_approvals"
    DECISION_CONTEXT = "decision_context"
    PAUSE_STATE = "pause_state"
    DECISIONS = "decisions"


class RunFlag(StrEnum):
    """Facts about a run kept in its ``MandateFlags`` search attribute, which the metrics count."""

    REWORK = "rework"
    ESCALATED = "escalated"
    VIOLATION = "violation"
    TOOL_ERROR = "tool_error"
    KILLED = "killed"


LOAD_MANDATE_ACTIVITY = "mandate.load_mandate"
EVALUATE_ACTIVITY = "mandate.compute_metrics"
ENFORCE_ACTIVITY = "mandate.enforce_kill"
PREDECESSOR_PAUSE_ACTIVITY = "mandate.predecessor_pause"
#: One call of a model-backed agent's model (``mandate.workflows.model_planner``).
MODEL_STEP_ACTIVITY = "mandate.model_step"

#: The monitor's workflow type, and the memo key where it publishes its pause (``PauseNotice``).
MONITOR_WORKFLOW = "MandateMonitor"
PAUSE_MEMO = "mandate_pause"

#: The name a kill sent by an agent's kill-criteria monitor carries.
MONITOR = "mandate-monitor"


def monitor_id(agent: str) -> str:
    """The workflow id of an agent's kill-criteria monitor."""
    return f"{MONITOR}-{agent}"
