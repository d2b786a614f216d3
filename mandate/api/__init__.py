"""The Python API behind the CLI: start a run, read its status, list and decide approvals, stop a fleet.

Split by job (``runs``, ``decide``, ``fleet``); every name is importable from ``mandate.api`` itself.
"""

from mandate.api.decide import EXPIRY_GRACE_SECONDS, decide, decision_context
from mandate.api.fleet import kill_agent, kill_decisions, pause_notice, pause_state, resume_agent
from mandate.api.runs import (
    ClosedState,
    PendingApproval,
    RunRecord,
    RunStatus,
    StatusNotAnsweredError,
    describe_run,
    get_status,
    list_pending,
    start_agent,
    start_search_attributes,
)
from mandate.errors import AgentPausedError

__all__ = [
    "start_agent",
    "start_search_attributes",
    "get_status",
    "describe_run",
    "RunStatus",
    "RunRecord",
    "ClosedState",
    "StatusNotAnsweredError",
    "list_pending",
    "PendingApproval",
    "decide",
    "decision_context",
    "EXPIRY_GRACE_SECONDS",
    "pause_state",
    "pause_notice",
    "kill_agent",
    "resume_agent",
    "kill_decisions",
    "AgentPausedError",
]
