"""A monitor that begins a chain takes the pause its predecessor held (``activities.monitor_history``).

Behind the ``carry-predecessor-pause`` patch; a continue-as-new carries its own state and asks nothing.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from mandate.contract import PREDECESSOR_PAUSE_ACTIVITY
from mandate.outcomes import PauseState

__all__ = ["CARRY_PREDECESSOR_PAUSE", "carried_pause"]

CARRY_PREDECESSOR_PAUSE = "carry-predecessor-pause"


async def carried_pause(agent: str, given: PauseState | None) -> PauseState | None:
    """``given``, unless this run begins a chain and the monitor before it held a pause: then that one
    (a pause is never lost to a restart; only the stop/go owner's signed resume lifts it)."""
    if workflow.info().continued_run_id is not None or not workflow.patched(CARRY_PREDECESSOR_PAUSE):
        return given
    if given is not None and given.paused:
        return given
    previous = await workflow.execute_activity(
        PREDECESSOR_PAUSE_ACTIVITY,
        agent,
        result_type=PauseState | None,  # type: ignore[arg-type]
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["CallerRefused"]),
    )
    return previous if previous is not None and previous.paused else given
