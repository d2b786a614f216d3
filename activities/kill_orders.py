"""Reaching the runs a kill is for: the one run a kill by hand names, the monitor's key, and the kill update
a run whose signals a flood used up still takes."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from mandate.contract import MONITOR, Update
from mandate.decisions import KillInput
from mandate.errors import KeysError
from mandate.outcomes import EnforceInput
from mandate.signer import Signer

__all__ = ["one_run", "monitor_signer", "kill_by_update"]


async def one_run(client: Client, order: EnforceInput) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The one run a kill by hand names, if it is a running run of the agent's type on Mandate's queue
    (the server's record, which has no visibility lag); else why not, and nothing is sent to it."""
    assert order.workflow is not None
    try:
        run = await client.get_workflow_handle(order.workflow).describe()
    except RPCError as err:
        return [], [f"{order.workflow}: {err.message}"]
    ours = (order.workflow_type in (None, run.workflow_type)) and (order.task_queue in (None, run.task_queue))
    if run.status is not WorkflowExecutionStatus.RUNNING or not ours:
        why = f"not a running {order.workflow_type or order.agent} run on task queue {order.task_queue!r}"
        return [], [f"{order.workflow}: {why}; nothing was sent to it"]
    return [(run.id, run.run_id)], []


def monitor_signer() -> Signer | None:
    """The monitor's service key, which this worker holds (if it holds one)."""
    try:
        return Signer.of(MONITOR)
    except KeysError as err:
        activity.logger.error(f"kills cannot be signed: {err}")
        return None


async def kill_by_update(handle: WorkflowHandle[Any, Any], kill: KillInput) -> str | None:
    """Send the kill as the run's ``kill`` update; why it did not reach the run, or None when it did.

    A run refusing it (it stopped already) has been reached: the refusal is the run's answer.
    """
    try:
        # The SDK turns the cancellation of a timed-out wait into WorkflowUpdateRPCTimeoutOrCancelledError.
        await asyncio.wait_for(handle.execute_update(Update.KILL, kill), timeout=30)
    except WorkflowUpdateFailedError:
        return None
    except RPCError as err:
        return f"the kill update too: {err.message}"
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return "the kill update had no answer in 30 s (no worker serves the run?)"
    return None
