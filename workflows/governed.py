"""The governed agent: every agent workflow is one of these with its own planner.

The planner proposes a tool call, the charter decides (allow / approve / block): reads run, writes wait
for a person (``approve``/``reject`` signals from the UI, the ``decide`` update from the CLI), blocked calls
are recorded as violations and never reach an activity. This class keeps the loop and its handlers; each
other job has a module: ``_inbox`` (decisions and kills that arrive, applied or refused),
``approvals.ApprovalBook`` (a request's state), ``_waiting`` (escalation, timeout), ``_signals`` (signal
inputs), ``_kill`` (who may stop a run), ``_rollback`` (compensations), ``_visibility`` (search
attributes, the UI's details), ``_protocol`` (which version of the loop), ``_record`` (state and
status), ``_tools`` (tool policy, timeouts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from mandate.approvals import args_hash
    from mandate.authority import Authority, Policy
    from mandate.contract import LOAD_MANDATE_ACTIVITY, Query, RunFlag, Signal, Update
    from mandate.decisions import (
        ApprovalRequest,
        DecideInput,
        Decision,
        DecisionContext,
        DecisionKind,
        KillInput,
        KillRecord,
        RequestStatus,
    )
    from mandate.run import (
        AgentMandate,
        AgentResult,
        AgentRunInput,
        AgentStatus,
        LoadMandateInput,
        RunState,
        Step,
        StepStatus,
    )
    from mandate.statements import SignedStatement
    from mandate.workflows import _protocol, _signals
    from mandate.workflows._inbox import Inbox
    from mandate.workflows._kill import cancelled_by_temporal
    from mandate.workflows._record import RunRecord
    from mandate.workflows._rollback import ROLLBACK_INCOMPLETE, Rollback
    from mandate.workflows._tools import blocked_because, call_tool, error_message, tool_timeout
    from mandate.workflows._visibility import Visibility
    from mandate.workflows._waiting import ApprovalWait
    from mandate.workflows.planner import Finish, Planner, RunPlanning, ToolProposal

__all__ = ["GovernedAgent"]

MAX_STEPS = 50


class GovernedAgent:
    """Base of every agent workflow. Subclasses set ``agent`` and ``planner``, and define a
    ``@workflow.run`` that returns ``await self.govern(run_input)``.

    The one hook for subclasses is ``_load_mandate()``: where the run's charter and tools come from
    (the worker's, by a local activity; the benchmarks' ``input-mandate`` side reads them from the
    input). Every other method is private to this class and may change.
    """

    agent: ClassVar[str]
    planner: ClassVar[Planner]

    @workflow.init
    def __init__(self, run_input: AgentRunInput) -> None:
        self._visibility = Visibility(lambda: self._run.facts())
        self._run = RunRecord(
            workflow_id=workflow.info().workflow_id,
            agent=self.agent,
            run_input=run_input,
            on_change=self._visibility.changed,
        )
        self._inbox = Inbox(self._run, self._log)
        self._approval = ApprovalWait(self._run, self._inbox, self._visibility, self._log)
        self._rollback = Rollback(self._run.compensations, self.agent, self._log)
        self._protocol = _protocol.RunProtocol(version=1)

    # ------------------------------------------------ signals: the Web UI, `temporal workflow signal`

    @workflow.signal(name=Signal.APPROVE, description=_signals.APPROVE_HELP)
    def approve(self, *inputs: Any) -> None:
        """Approve a pending request; a refusal cannot answer its sender, so it is recorded."""
        self._inbox.decision_signal(DecisionKind.APPROVE, inputs, workflow.now())

    @workflow.signal(name=Signal.REJECT, description=_signals.REJECT_HELP)
    def reject(self, *inputs: Any) -> None:
        """Reject a pending request (a reason is required); a refusal is recorded."""
        self._inbox.decision_signal(DecisionKind.REJECT, inputs, workflow.now())

    @workflow.signal(name=Signal.KILL, description=_signals.KILL_HELP)
    def kill(self, *inputs: Any) -> None:
        """Stop the run, if sent by the stop/go owner or the monitor; a refusal is recorded."""
        self._inbox.kill_signal(inputs, workflow.now())

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, inputs: Sequence[RawValue]) -> None:
        """Any other name (a misspelt ``aprove``): refused and recorded, never dropped; not in the UI's signal list."""
        self._inbox.unknown_signal(name, inputs, workflow.now())

    # ---------------------------------------------------------------------- updates: the CLI

    @workflow.update(name=Update.DECIDE)
    def decide(self, decision: DecideInput) -> Decision:
        """Approve or reject a pending request; refused at once (nothing written) if not allowed."""
        update = workflow.current_update_info()
        return self._inbox.decision_update(decision, update_id=update.id if update else None, now=workflow.now())

    @decide.validator
    def _validate_decide(self, decision: DecideInput) -> None:
        self._inbox.validate_decision_update(decision, workflow.now())

    @workflow.update(name=Update.KILL)
    def kill_update(self, order: KillInput) -> KillRecord:
        """Stop this run; refused at once unless sent by the stop/go owner."""
        return self._inbox.kill_update(order, workflow.now())

    @kill_update.validator
    def _validate_kill(self, order: KillInput) -> None:
        self._inbox.validate_kill_update(order, workflow.now())

    # -------------------------------------------------------------------------------- queries

    @workflow.query(name=Query.STATUS)
    def status(self) -> AgentStatus:
        return self.snapshot()

    @workflow.query(name=Query.PENDING_APPROVALS)
    def pending_approvals(self) -> list[ApprovalRequest]:
        return self._run.approvals.pending()

    @workflow.query(name=Query.DECISION_CONTEXT)
    def decision_context(self) -> DecisionContext:
        """What ``mandate approve`` signs against: this run's id, agent, state and pending requests."""
        state, pending = self._run.state.value, self._run.approvals.pending()
        return DecisionContext(run_id=workflow.info().run_id, agent=self.agent, state=state, pending=pending)

    def snapshot(self) -> AgentStatus:
        """The run's state; needs no workflow context, so an incident review can read it after a replay."""
        return self._run.status()

    @property
    def _mandate(self) -> AgentMandate | None:
        """The charter and tools the run is governed by (``mandate replay`` reads it off the instance)."""
        return self._run.mandate

    # ---------------------------------------------------------------------------------- run

    async def govern(self, run_input: AgentRunInput) -> AgentResult:
        """The whole governed loop; a subclass's ``@workflow.run`` returns ``await self.govern(input)``."""
        patched = _protocol.coalesce_patched()
        self._visibility.coalesce = patched
        mandate = self._run.mandate = await self._load_mandate()
        self._protocol = _protocol.RunProtocol(mandate.protocol, coalesce_patched=patched)
        self._run.approvals.proof = self._protocol.proof(mandate, workflow.info(), self.agent)
        if self._protocol.signed_authority and mandate.refused is not None:
            return await self._refuse_start(mandate.refused)
        if self._protocol.coalesces_search_attributes:
            self._visibility.coalesce_from(workflow.info().typed_search_attributes)
        self._run.set_state(RunState.RUNNING)
        self._visibility.flush()
        self._log("run_started", requested_by=run_input.requested_by)
        try:
            finish = await self._plan_and_act(run_input, mandate)
        except asyncio.CancelledError:
            # Cancelled through Temporal (UI, `temporal workflow cancel`): stop waiting, write nothing more.
            self._inbox.stop(cancelled_by_temporal(workflow.now()))
            self._run.set_state(RunState.KILLED)
            self._visibility.flush()
            raise
        if self._run.kill is not None:
            return await self._end_killed(self._run.kill)
        self._run.outcome, self._run.summary = finish.outcome, finish.summary
        self._run.set_state(RunState.FAILED if finish.failed else RunState.COMPLETED)
        failed = f"{self.agent} ended as {finish.outcome}: {finish.summary}"
        return await self._end(ApplicationError(failed, type="AgentRunFailed") if finish.failed else None)

    async def _load_mandate(self) -> AgentMandate:
        """Hook: the charter and tools of this agent, from the worker, recorded in the history as a marker.

        The worker also checks the start: the requester's signed statement and the agent's pause.
        """
        run_input = self._run.input
        return await workflow.execute_local_activity(
            LOAD_MANDATE_ACTIVITY,
            LoadMandateInput(
                agent=self.agent,
                requested_by=run_input.requested_by,
                input_hash=args_hash(run_input.input),
                start=run_input.start,
            ),
            result_type=AgentMandate,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["AgentNotServed"]),
        )

    async def _plan_and_act(self, run_input: AgentRunInput, mandate: AgentMandate) -> Finish:
        planning = RunPlanning(self.planner, self.agent, run_input.input, mandate)  # the run's own planner state
        while self._run.kill is None:
            if len(self._run.steps) >= MAX_STEPS:
                return Finish(outcome="step_limit", summary=f"stopped after {MAX_STEPS} steps", failed=True)
            proposal = await planning.propose(list(self._run.steps))
            self._run.cost += proposal.cost  # what planning cost: a model call's tokens, priced by the charter
            if isinstance(proposal, Finish):
                return proposal
            if not self._run.record_invalid(proposal, mandate, workflow.now()):
                await self._take(proposal, mandate)
        return Finish(outcome="killed", summary="stopped by a kill")

    async def _take(self, proposal: ToolProposal, mandate: AgentMandate) -> None:
        """One proposed tool call: blocked, run at once, or run once a person approves it."""
        info = mandate.tools.get(proposal.tool)
        rule = mandate.charter.policy_for(proposal.tool)
        step = self._run.start_step(proposal, info, rule, workflow.now())
        why = blocked_because(proposal.tool, info, rule, mandate.charter)
        if info is None or why is not None:
            self._run.end_step(step, StepStatus.BLOCKED, workflow.now(), error=f"policy violation: {step.tool}: {why}")
            self._run.violations += 1
            self._run.flag(RunFlag.VIOLATION)
            self._log("policy_violation", tool=proposal.tool, reason=why)
            return
        run_key = self._protocol.idempotency_prefix(self._run.workflow_id, workflow.info().run_id)
        key, publish, authority = f"{run_key}:step-{step.index}", True, None
        if rule.policy is Policy.APPROVE:
            request = await self._approval.ask(step, rule)
            if request.status is not RequestStatus.APPROVED:
                ended = StepStatus.DROPPED if request.status is RequestStatus.DROPPED else StepStatus.REJECTED
                self._run.end_step(step, ended, workflow.now(), error=self._run.approvals.why_not(request))
                return
            step.status = StepStatus.RUNNING
            # From protocol 3 the decision and the write it allows go out in one workflow task.
            key, publish = f"{run_key}:{request.id}", self._protocol.publishes_before_approved_write
            authority = request.decision.statement if request.decision else None
        step.idempotency_key = key if info.authority is Authority.WRITE else None
        if publish:
            self._visibility.flush()
        await self._run_tool(step, mandate, authority)

    async def _run_tool(self, step: Step, mandate: AgentMandate, authority: SignedStatement | None) -> None:
        info = mandate.tools[step.tool]
        self._log("tool_scheduled", tool=step.tool, authority=info.authority.value)
        try:
            result = await call_tool(step, agent=self.agent, mandate=mandate, authority=authority)
        except ActivityError as err:
            self._run.flag(RunFlag.TOOL_ERROR)
            self._run.end_step(step, StepStatus.FAILED, workflow.now(), error=error_message(err))
            self._log("tool_failed", tool=step.tool, error=step.error)
            return
        self._run.cost += result.cost
        step.result = result.output
        self._run.end_step(step, StepStatus.COMPLETED, workflow.now())
        if info.authority is Authority.WRITE:
            self._rollback.remember(step, info)

    async def _end_killed(self, kill: KillRecord) -> AgentResult:
        for step in self._run.steps:
            if step.status in (StepStatus.AWAITING_APPROVAL, StepStatus.RUNNING):
                self._run.end_step(step, StepStatus.DROPPED, workflow.now(), error=f"run killed by {kill.by}")
        if not kill.rollback:
            self._run.outcome, self._run.summary = "killed", f"killed by {kill.by}: {kill.reason}"
            self._run.set_state(RunState.KILLED)
            return await self._end(None)
        self._run.set_state(RunState.ROLLING_BACK)
        self._visibility.flush()
        await self._rollback.run(lambda tool: tool_timeout(self._run.mandate, tool), kill)
        self._run.outcome, self._run.summary = self._rollback.outcome(kill)
        self._run.set_state(RunState.ROLLED_BACK)
        incomplete = self._run.outcome == ROLLBACK_INCOMPLETE
        return await self._end(ApplicationError(self._run.summary, type="RollbackIncomplete") if incomplete else None)

    async def _refuse_start(self, why: str) -> AgentResult:
        """The worker refused this start (unsigned or forged, or the agent is paused): end at once."""
        self._run.outcome, self._run.summary = "start_refused", why
        self._run.set_state(RunState.FAILED)
        self._log("start_refused", reason=why)
        return await self._end(ApplicationError(f"{self.agent} refused to start: {why}", type="StartRefused"))

    async def _end(self, failure: ApplicationError | None) -> AgentResult:
        """Publish the final state, let every handler finish, then fail with ``failure`` or return."""
        self._visibility.flush()
        self._log("run_finished", outcome=self._run.outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if failure is not None:
            raise failure
        return self._run.result()

    def _log(self, event: str, **context: Any) -> None:
        context.setdefault("agent", self.agent)
        workflow.logger.info(event, extra={"mandate": context})
