"""Waiting for a person: a write the charter gates opens a request, and the run waits for its decision.

The request's approvers have the tool's ``approval_timeout``; then it goes to its ``escalate_to`` group
(the first approvers keep their say) with a fresh timeout; then ``mandate`` rejects it (channel
``timeout``). With no ``escalate_to`` it is rejected after the first timeout. A kill ends the wait at
once: the kill dropped the request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from mandate.charter import ToolPolicy
from mandate.contract import RunFlag
from mandate.decisions import ApprovalRequest, RequestStatus
from mandate.run import RunState, Step, StepStatus
from mandate.workflows._inbox import Inbox
from mandate.workflows._record import RunRecord
from mandate.workflows._visibility import Visibility

__all__ = ["ApprovalWait"]


class ApprovalWait:
    """Opens a step's approval request and waits for it to be decided, escalated, timed out or dropped."""

    def __init__(self, run: RunRecord, inbox: Inbox, visibility: Visibility, log: Callable[..., None]) -> None:
        self._run = run
        self._inbox = inbox
        self._visibility = visibility
        self._log = log

    async def ask(self, step: Step, rule: ToolPolicy) -> ApprovalRequest:
        """The step's request once it is decided, timed out, or dropped by a kill."""
        assert step.authority is not None
        book, run = self._run.approvals, self._run
        request = book.open(
            step=step.index,
            tool=step.tool,
            authority=step.authority,
            args=step.args,
            rule=rule,
            requested_by=run.input.requested_by,
            now=workflow.now(),
        )
        step.status, step.request_id = StepStatus.AWAITING_APPROVAL, request.id
        run.set_state(RunState.WAITING_APPROVAL)
        self._visibility.flush()
        self._log("approval_requested", tool=step.tool, request_id=request.id, args_hash=request.args_hash)
        if not await self._decided(request, rule.approval_timeout) and run.kill is None:
            decided = False
            if request.escalate_to:
                book.escalate(request, now=workflow.now(), timeout=rule.approval_timeout)
                run.flag(RunFlag.ESCALATED)
                run.on_change()
                self._visibility.flush()
                self._log("approval_escalated", request_id=request.id, escalate_to=request.escalate_to)
                decided = await self._decided(request, rule.approval_timeout)
            if not decided and run.kill is None:
                self._inbox.applied(book.time_out(request, now=workflow.now(), waited=rule.approval_timeout))
        if run.kill is None:
            run.set_state(RunState.RUNNING)
        return request

    @staticmethod
    async def _decided(request: ApprovalRequest, timeout: timedelta) -> bool:
        """Whether the request left ``pending`` (decided or dropped) before ``timeout`` passed."""
        try:
            await workflow.wait_condition(lambda: request.status is not RequestStatus.PENDING, timeout=timeout)
        except TimeoutError:
            return False
        return True
