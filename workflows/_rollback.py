"""Undoing a run's completed writes when a kill asks for a rollback.

Each completed write is remembered with its compensation (or as not undoable when its tool has none);
a rollback runs the compensations newest first, retried, idempotent (the write's key + ``:undo``), and
shielded from the run's cancellation: once begun, a rollback finishes. A compensation that still fails
is recorded as failed, never skipped, and the run ends as ``rollback_incomplete``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from mandate.decisions import KillRecord
from mandate.run import Compensation, CompensationStatus, Step, ToolCallInput, ToolCallResult, ToolInfo
from mandate.workflows._tools import error_message

__all__ = ["COMPENSATION_RETRY", "ROLLED_BACK", "ROLLBACK_INCOMPLETE", "Rollback"]

COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
ROLLED_BACK = "rolled_back"
ROLLBACK_INCOMPLETE = "rollback_incomplete"


class Rollback:
    """The compensations of one run's completed writes, and running them."""

    def __init__(self, compensations: list[Compensation], agent: str, log: Callable[..., None]) -> None:
        self.compensations = compensations  # the run's record of them, kept up to date here
        self._agent = agent
        self._log = log

    def remember(self, step: Step, tool: ToolInfo) -> None:
        """A write completed: note how to undo it (its arguments and result go to the compensation)."""
        assert step.idempotency_key is not None
        self.compensations.append(
            Compensation(
                step=step.index,
                tool=step.tool,
                compensation=tool.compensation,
                irreversible=tool.irreversible,
                args={"original": step.args, "result": step.result},
                idempotency_key=f"{step.idempotency_key}:undo",
                status=CompensationStatus.PENDING if tool.compensation else CompensationStatus.NOT_UNDOABLE,
            )
        )

    async def run(self, timeout_of: Callable[[str], timedelta], kill: KillRecord) -> None:
        """Run every pending compensation, newest first; a cancellation of the run does not stop it.

        Each compensation carries the kill's signed statement: the activity undoes a write only on the
        stop/go owner's or the monitor's signed order for this run.
        """
        task = asyncio.create_task(self._compensate_all(timeout_of, kill))
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                self._log("rollback_continues_despite_cancel")
        task.result()

    def outcome(self, kill: KillRecord) -> tuple[str, str]:
        """The run's outcome and summary after the rollback ``kill`` asked for."""
        failed = [c for c in self.compensations if c.status is CompensationStatus.FAILED]
        undone = sum(1 for c in self.compensations if c.status is CompensationStatus.DONE)
        kept = [c.tool for c in self.compensations if c.status is CompensationStatus.NOT_UNDOABLE]
        summary = (
            f"killed by {kill.by} ({kill.reason}); {undone} write(s) undone"
            + (f"; not undoable: {', '.join(kept)}" if kept else "")
            + (f"; FAILED to undo: {', '.join(c.tool for c in failed)}" if failed else "")
        )
        return (ROLLBACK_INCOMPLETE if failed else ROLLED_BACK), summary

    async def _compensate_all(self, timeout_of: Callable[[str], timedelta], kill: KillRecord) -> None:
        for comp in reversed(self.compensations):
            if comp.status is not CompensationStatus.PENDING or comp.compensation is None:
                continue
            self._log("compensation_started", tool=comp.compensation, step=comp.step)
            try:
                await workflow.execute_activity(
                    comp.compensation,
                    ToolCallInput(
                        agent=self._agent,
                        args=comp.args,
                        idempotency_key=comp.idempotency_key,
                        authority=kill.statement,
                    ),
                    result_type=ToolCallResult,
                    start_to_close_timeout=timeout_of(comp.compensation),
                    retry_policy=COMPENSATION_RETRY,
                )
            except ActivityError as err:
                comp.status = CompensationStatus.FAILED
                comp.error = error_message(err)
                self._log("compensation_failed", tool=comp.compensation, step=comp.step, error=comp.error)
            else:
                comp.status = CompensationStatus.DONE
                self._log("compensation_finished", tool=comp.compensation, step=comp.step)
