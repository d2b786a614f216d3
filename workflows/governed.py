"""The governed agent: every agent workflow is one of these with its own planner.

Loop: the planner proposes a tool call, the charter decides (allow / approve / block),
reads run, writes wait for a person, blocked calls are recorded as policy violations
and never reach an activity. Decisions come in by the ``approve`` / ``reject`` signals
(Temporal UI, ``temporal workflow signal``) or the ``decide`` update (the CLI), and are
checked by ``approvals`` against the charter loaded when the run started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

with workflow.unsafe.imports_passed_through():
    from mandate import search_attributes as sa
    from mandate.approvals import Refused, args_hash, check_decision, escalate, open_request, parse_payload
    from mandate.authority import Authority, Policy
    from mandate.contract import LOAD_MANDATE_ACTIVITY, MONITOR
    from mandate.decisions import (
        ApprovalRequest,
        Channel,
        DecideInput,
        Decision,
        DecisionKind,
        KillInput,
        KillRecord,
        RefusedDecision,
        RequestStatus,
        same_person,
    )
    from mandate.durations import format_duration
    from mandate.errors import first_problem
    from mandate.run import (
        AgentMandate,
        AgentResult,
        AgentRunInput,
        AgentStatus,
        Compensation,
        LoadMandateInput,
        RunState,
        Step,
        StepStatus,
        ToolCallInput,
        ToolCallResult,
    )
    from mandate.workflows.planner import Finish, PlanContext, Planner, ToolProposal

__all__ = ["GovernedAgent"]

COALESCE_SEARCH_ATTRIBUTES = "coalesce-search-attributes"

TOOL_TIMEOUT = timedelta(minutes=5)
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["InvalidToolArguments", "ToolRefused"],
)
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
SIGNALS = ("approve", "reject", "kill")
SIGNAL_HELP = (
    'approve / reject: {"request_id": "r1", "approver": "you@example.com", "reason": "..."}; '
    'kill: {"by": "stop/go owner", "reason": "...", "rollback": true}'
)
MAX_STEPS = 50
KEEP_REFUSED = 50


def _seed_published(start: Any) -> dict[str, Any]:
    """What the start already set (``mandate start`` sets most attributes), so the run need not repeat it."""
    seeded: dict[str, Any] = {sa.APPROVERS.name: [], sa.COST.name: 0.0, sa.FLAGS.name: []}
    for key in sa.ALL:
        value = start.get(key)
        if value is not None:
            seeded[key.name] = list(value) if isinstance(value, list | tuple) else value
    return seeded


def _how_to_decide(pending: list[ApprovalRequest]) -> str:
    """The Web UI's "current details": what waits for a person here, and how to answer from the UI."""
    if not pending:
        return "Nothing waits for a person in this run."
    lines = ["**Waiting for a person**", ""]
    for r in pending:
        lines.append(f"- `{r.id}` {r.tool} `{r.args_hash[:19]}…`, approvers: {', '.join(r.eligible)}")
    first = pending[0].id
    lines += [
        "",
        'To decide here: "Send a Signal", choose *Custom*, name `approve` or `reject`, input '
        f'`{{"request_id": "{first}", "approver": "you@example.com", "reason": "..."}}`. '
        "Or `mandate approve <workflow id> --request " + first + " --as you@example.com`.",
    ]
    return "\n".join(lines)


def _encoding(raw: RawValue, missing: str = "no encoding") -> str:
    return raw.payload.metadata.get("encoding", b"").decode(errors="replace") or missing


def _describe_inputs(args: Sequence[RawValue]) -> str:
    """What a refused signal carried, for the record, without decoding it."""
    parts = []
    for raw in args[:3]:
        parts.append(f"{_encoding(raw)}, {len(raw.payload.data)} bytes: {raw.payload.data[:60]!r}")
    more = f" and {len(args) - 3} more" if len(args) > 3 else ""
    return f"{len(args)} input(s): " + "; ".join(parts) + more


class GovernedAgent:
    """Base of every agent workflow. Subclasses set ``agent`` and ``planner`` and define ``run``."""

    agent: ClassVar[str]
    planner: ClassVar[Planner]

    @workflow.init
    def __init__(self, run_input: AgentRunInput) -> None:
        self._input = run_input
        self._workflow_id = workflow.info().workflow_id
        self._mandate: AgentMandate | None = None
        self._state = RunState.STARTING
        self._steps: list[Step] = []
        self._requests: dict[str, ApprovalRequest] = {}
        self._decisions: list[Decision] = []
        self._refused: list[RefusedDecision] = []
        self._refused_total = 0
        self._violations = 0
        self._escalations = 0
        self._rejections = 0
        self._tool_errors = 0
        self._cost = 0.0
        self._compensations: list[Compensation] = []
        self._outcome: str | None = None
        self._summary: str | None = None
        self._flags: set[str] = set()
        self._published: dict[str, Any] = {}
        self._dirty = False
        self._coalesce = False
        self._kill: KillRecord | None = None

    # ----------------------------------------------------------------- run

    async def govern(self, run_input: AgentRunInput) -> AgentResult:
        """The whole governed loop; a subclass's ``@workflow.run`` returns ``await self.govern(input)``."""
        # Search attributes are written once per workflow task, where the run waits, and only what
        # changed. Runs recorded before that wrote them at every change; runs recorded with the
        # "coalesce-search-attributes" patch coalesce. Both are old histories, so their first
        # activation is always a replay: only then is the patch consulted (a replay without its marker
        # issues no command). New runs take the version from the load_mandate marker instead
        # (AgentMandate.protocol), which costs no event of its own.
        if workflow.unsafe.is_replaying_history_events():
            self._coalesce = workflow.patched(COALESCE_SEARCH_ATTRIBUTES)
        self._mandate = await self._load_mandate()
        if self._mandate.protocol >= 2:
            self._coalesce = True
        if self._coalesce:
            self._published = _seed_published(workflow.info().typed_search_attributes)
        self._set_state(RunState.RUNNING)
        self._flush()
        self._log("run_started", requested_by=run_input.requested_by)
        try:
            finish = await self._plan_and_act(run_input)
        except asyncio.CancelledError:
            # Cancelled through Temporal (UI, `temporal workflow cancel`): stop waiting, write nothing more.
            self._stop_by_kill(
                KillRecord(
                    at=workflow.now(),
                    by="temporal",
                    reason="workflow cancelled",
                    rollback=False,
                    channel=Channel.CANCEL,
                )
            )
            self._set_state(RunState.KILLED)
            self._flush()
            raise
        if self._kill is not None:
            return await self._end_killed()
        self._outcome, self._summary = finish.outcome, finish.summary
        self._set_state(RunState.FAILED if finish.failed else RunState.COMPLETED)
        self._flush()
        self._log("run_finished", outcome=finish.outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if finish.failed:
            raise ApplicationError(
                f"{self.agent} ended as {finish.outcome}: {finish.summary}", type="AgentRunFailed"
            )
        return self._result()

    async def _load_mandate(self) -> AgentMandate:
        """The charter and tools of this agent, from the worker, recorded in the history as a marker."""
        return await workflow.execute_local_activity(
            LOAD_MANDATE_ACTIVITY,
            LoadMandateInput(agent=self.agent),
            result_type=AgentMandate,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["AgentNotServed"]),
        )

    async def _plan_and_act(self, run_input: AgentRunInput) -> Finish:
        while self._kill is None:
            if len(self._steps) >= MAX_STEPS:
                return Finish(outcome="step_limit", summary=f"stopped after {MAX_STEPS} steps", failed=True)
            proposal = await self.planner.propose(
                PlanContext(agent=self.agent, input=run_input.input, steps=list(self._steps))
            )
            if isinstance(proposal, Finish):
                return proposal
            await self._take(proposal)
        return Finish(outcome="killed", summary="stopped by a kill")

    # ------------------------------------------------------------- kill

    def _stop_by_kill(self, record: KillRecord) -> None:
        """Record the kill and drop every pending request; the loop stops before its next step."""
        if self._kill is not None:
            return
        self._kill = record
        self._flag("killed")
        for request in self._pending():
            request.status = RequestStatus.DROPPED
            request.decision = Decision(
                request_id=request.id,
                kind=DecisionKind.REJECT,
                approver=record.by,
                reason=f"run killed: {record.reason}",
                channel=Channel.KILL,
                at=record.at,
            )
        self._publish()
        self._log("run_killed", by=record.by, reason=record.reason, rollback=record.rollback)

    async def _end_killed(self) -> AgentResult:
        assert self._kill is not None
        for step in self._steps:
            if step.status in (StepStatus.AWAITING_APPROVAL, StepStatus.RUNNING):
                self._end_step(step, StepStatus.DROPPED, error=f"run killed by {self._kill.by}")
        if self._kill.rollback:
            self._set_state(RunState.ROLLING_BACK)
            self._flush()
            await self._rollback()
            failed = [c for c in self._compensations if c.status == "failed"]
            undone = sum(1 for c in self._compensations if c.status == "done")
            kept = [c.tool for c in self._compensations if c.status == "not_undoable"]
            self._outcome = "rollback_incomplete" if failed else "rolled_back"
            self._summary = (
                f"killed by {self._kill.by} ({self._kill.reason}); {undone} write(s) undone"
                + (f"; not undoable: {', '.join(kept)}" if kept else "")
                + (f"; FAILED to undo: {', '.join(c.tool for c in failed)}" if failed else "")
            )
            self._set_state(RunState.ROLLED_BACK)
        else:
            self._outcome = "killed"
            self._summary = f"killed by {self._kill.by}: {self._kill.reason}"
            self._set_state(RunState.KILLED)
        self._flush()
        self._log("run_finished", outcome=self._outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._outcome == "rollback_incomplete":
            raise ApplicationError(self._summary, type="RollbackIncomplete")
        return self._result()

    async def _rollback(self) -> None:
        """Run the compensation of every completed write, newest first; shielded from cancellation."""
        task = asyncio.create_task(self._compensate_all())
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                self._log("rollback_continues_despite_cancel")
        task.result()

    async def _compensate_all(self) -> None:
        for comp in reversed(self._compensations):
            if comp.status != "pending" or comp.compensation is None:
                continue
            self._log("compensation_started", tool=comp.compensation, step=comp.step)
            try:
                await workflow.execute_activity(
                    comp.compensation,
                    ToolCallInput(agent=self.agent, args=comp.args, idempotency_key=comp.idempotency_key),
                    result_type=ToolCallResult,
                    start_to_close_timeout=self._tool_timeout(comp.compensation),
                    retry_policy=COMPENSATION_RETRY,
                )
            except ActivityError as err:
                comp.status = "failed"
                comp.error = (
                    err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause or err)
                )
                self._log("compensation_failed", tool=comp.compensation, step=comp.step, error=comp.error)
            else:
                comp.status = "done"
                self._log("compensation_finished", tool=comp.compensation, step=comp.step)

    def _kill_from(self, raw: Any, channel: Channel) -> KillRecord:
        """Parse and authorise a kill; raises ``Refused``."""
        if not isinstance(raw, dict):
            raise Refused(
                'kill input must be a JSON object: {"by": "...", "reason": "...", "rollback": true}'
            )
        try:
            order = KillInput.model_validate(raw)
        except ValidationError as err:
            raise Refused(first_problem(err)) from None
        assert self._mandate is not None
        owner = self._mandate.charter.owners.stop_go
        if not (same_person(order.by, owner) or same_person(order.by, MONITOR)):
            raise Refused(f"{order.by} is not the stop/go owner of {self.agent} (only {owner} may kill it)")
        if self._kill is not None:
            raise Refused(f"the run was already killed by {self._kill.by}")
        if self._state in (RunState.COMPLETED, RunState.FAILED):
            raise Refused("the run has already finished")
        return KillRecord(
            at=workflow.now(), by=order.by, reason=order.reason, rollback=order.rollback, channel=channel
        )

    def _on_kill_signal(self, payload: Any) -> None:
        """Stop this run: ``{"by": "stop/go owner", "reason": "...", "rollback": true}``."""
        if self._mandate is None:
            self._refuse(
                Channel.SIGNAL, "kill", "the run has not loaded its charter yet; send the kill again", payload
            )
            return
        try:
            record = self._kill_from(payload, Channel.SIGNAL)
        except Refused as refusal:
            self._refuse(Channel.SIGNAL, "kill", str(refusal), payload)
            return
        self._stop_by_kill(record)

    @workflow.update(name="kill")
    def kill_update(self, order: KillInput) -> KillRecord:
        """Stop this run; refused at once unless sent by the stop/go owner."""
        record = self._kill_from(order.model_dump(), Channel.UPDATE)
        self._stop_by_kill(record)
        return record

    @kill_update.validator
    def _validate_kill(self, order: KillInput) -> None:
        if self._mandate is None:
            raise ApplicationError("the run has not loaded its charter yet; try again", type="NotReady")
        try:
            self._kill_from(order.model_dump(), Channel.UPDATE)
        except Refused as refusal:
            raise ApplicationError(str(refusal), type="KillRefused", non_retryable=True) from None

    async def _take(self, proposal: ToolProposal) -> None:
        assert self._mandate is not None
        info = self._mandate.tools.get(proposal.tool)
        rule = self._mandate.charter.policy_for(proposal.tool)
        step = Step(
            index=len(self._steps) + 1,
            tool=proposal.tool,
            authority=info.authority if info else None,
            policy=rule.policy if info else Policy.BLOCK,
            args=proposal.args,
            args_hash=args_hash(proposal.args),
            status=StepStatus.RUNNING,
            why=proposal.why,
            started_at=workflow.now(),
        )
        self._steps.append(step)
        if info is None or rule.policy is Policy.BLOCK:
            why = "no such tool is registered" if info is None else "blocked by the charter"
            if info is not None and proposal.tool not in self._mandate.charter.tools:
                why = "not named in the charter (default deny)"
            self._end_step(step, StepStatus.BLOCKED, error=f"policy violation: {proposal.tool} {why}")
            self._violations += 1
            self._flag("violation")
            self._log("policy_violation", tool=proposal.tool, reason=why)
            return
        if rule.policy is Policy.APPROVE:
            request = await self._ask_for_approval(step)
            if request.status is RequestStatus.DROPPED:
                self._end_step(step, StepStatus.DROPPED, error=self._why_not(request))
                return
            if request.status is not RequestStatus.APPROVED:
                self._end_step(step, StepStatus.REJECTED, error=self._why_not(request))
                return
            step.status = StepStatus.RUNNING
            key = f"{workflow.info().workflow_id}:{request.id}"
            # From protocol 3 the decision and the write it allows go out in one workflow task
            # without a search-attribute write between them; the run's next wait publishes both.
            publish = self._mandate.protocol < 3
        else:
            key = f"{workflow.info().workflow_id}:step-{step.index}"
            publish = True
        step.idempotency_key = key if info.authority is Authority.WRITE else None
        await self._run_tool(step, publish_first=publish)

    async def _run_tool(self, step: Step, *, publish_first: bool = True) -> None:
        assert self._mandate is not None
        info = self._mandate.tools[step.tool]
        if publish_first:
            self._flush()
        self._log("tool_scheduled", tool=step.tool, authority=info.authority.value)
        try:
            result = await workflow.execute_activity(
                step.tool,
                ToolCallInput(agent=self.agent, args=step.args, idempotency_key=step.idempotency_key),
                result_type=ToolCallResult,
                start_to_close_timeout=self._tool_timeout(step.tool),
                retry_policy=TOOL_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as err:
            self._tool_errors += 1
            self._flag("tool_error")
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause or err)
            self._end_step(step, StepStatus.FAILED, error=cause)
            self._log("tool_failed", tool=step.tool, error=cause)
            return
        self._cost += result.cost
        step.result = result.output
        self._end_step(step, StepStatus.COMPLETED)
        if info.authority is Authority.WRITE:
            self._remember_compensation(step)

    def _remember_compensation(self, step: Step) -> None:
        assert self._mandate is not None and step.idempotency_key is not None
        info = self._mandate.tools[step.tool]
        self._compensations.append(
            Compensation(
                step=step.index,
                tool=step.tool,
                compensation=info.compensation,
                irreversible=info.irreversible,
                args={"original": step.args, "result": step.result},
                idempotency_key=f"{step.idempotency_key}:undo",
                status="pending" if info.compensation else "not_undoable",
            )
        )

    # ----------------------------------------------------------- approvals

    async def _ask_for_approval(self, step: Step) -> ApprovalRequest:
        assert self._mandate is not None
        rule = self._mandate.charter.policy_for(step.tool)
        assert step.authority is not None
        request = open_request(
            request_id=f"r{len(self._requests) + 1}",
            step=step.index,
            tool=step.tool,
            authority=step.authority,
            args=step.args,
            approvers=list(rule.approvers),
            escalate_to=list(rule.escalate_to),
            requested_by=self._input.requested_by,
            now=workflow.now(),
            timeout=rule.approval_timeout,
        )
        self._requests[request.id] = request
        step.status = StepStatus.AWAITING_APPROVAL
        step.request_id = request.id
        self._set_state(RunState.WAITING_APPROVAL)
        self._flush()
        self._log("approval_requested", tool=step.tool, request_id=request.id, args_hash=request.args_hash)
        if not await self._wait_for_decision(request, rule.approval_timeout) and self._kill is None:
            if request.escalate_to:
                escalate(request, workflow.now(), rule.approval_timeout)
                self._escalations += 1
                self._flag("escalated")
                self._publish()
                self._flush()
                self._log("approval_escalated", request_id=request.id, escalate_to=request.escalate_to)
                decided = await self._wait_for_decision(request, rule.approval_timeout)
            else:
                decided = False
            if not decided and self._kill is None:
                self._apply(
                    request,
                    Decision(
                        request_id=request.id,
                        kind=DecisionKind.REJECT,
                        approver="mandate",
                        reason=f"nobody decided within {format_duration(rule.approval_timeout)}",
                        channel=Channel.TIMEOUT,
                        at=workflow.now(),
                    ),
                )
        if self._kill is None:
            self._set_state(RunState.RUNNING)
        return request

    async def _wait_for_decision(self, request: ApprovalRequest, timeout: timedelta) -> bool:
        try:
            await workflow.wait_condition(
                lambda: request.status is not RequestStatus.PENDING, timeout=timeout
            )
        except TimeoutError:
            return False
        return True

    def _apply(self, request: ApprovalRequest, decision: Decision) -> None:
        request.decision = decision
        request.status = (
            RequestStatus.APPROVED if decision.kind is DecisionKind.APPROVE else RequestStatus.REJECTED
        )
        self._decisions.append(decision)
        if decision.kind is DecisionKind.REJECT:
            self._rejections += 1
            self._flag("rework")
        self._publish()
        self._log(
            "approval_decided",
            request_id=request.id,
            decision=decision.kind.value,
            approver=decision.approver,
            channel=decision.channel.value,
        )

    def _why_not(self, request: ApprovalRequest) -> str:
        d = request.decision
        if d is None:
            return f"request {request.id} was {request.status.value}"
        verb = "approved" if d.kind is DecisionKind.APPROVE else "rejected"
        return f"{verb} by {d.approver} via {d.channel.value}: {d.reason}"

    def _refuse(self, channel: Channel, kind: str, reason: str, raw: Any) -> None:
        approver = raw.get("approver") if isinstance(raw, dict) else None
        request_id = raw.get("request_id") if isinstance(raw, dict) else None
        self._refused_total += 1
        self._refused.append(
            RefusedDecision(
                at=workflow.now(),
                channel=channel,
                kind=kind,
                reason=reason,
                approver=str(approver)[:200] if approver is not None else None,
                request_id=str(request_id)[:100] if request_id is not None else None,
                payload=repr(raw)[:300],
            )
        )
        del self._refused[:-KEEP_REFUSED]
        self._log("decision_refused", channel=channel.value, reason=reason)

    def _on_signal(self, kind: DecisionKind, raw: Any) -> None:
        try:
            payload = parse_payload(raw, kind=kind)
            request = check_decision(self._requests, payload, kind=kind)
        except Refused as refusal:
            self._refuse(Channel.SIGNAL, kind.value, str(refusal), raw)
            return
        self._apply(
            request,
            Decision(
                request_id=request.id,
                kind=kind,
                approver=payload.approver,
                reason=payload.reason,
                channel=Channel.SIGNAL,
                at=workflow.now(),
            ),
        )

    @workflow.signal(dynamic=True, description=SIGNAL_HELP)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Every signal, undecoded: no input can be dropped by the SDK or wedge the run.

        ``approve`` / ``reject`` take ``{"request_id": "r1", "approver": "...", "reason": "..."}``,
        ``kill`` takes ``{"by": "stop/go owner", "reason": "...", "rollback": true}``. Anything else (an
        unknown name, two inputs, an input that is not JSON) is refused and recorded like a bad decision.
        """
        try:
            payload = self._signal_input(name, args)
        except Refused as refusal:
            self._refuse(Channel.SIGNAL, name[:50], str(refusal), _describe_inputs(args))
            return
        if name == "kill":
            self._on_kill_signal(payload)
        else:
            self._on_signal(DecisionKind(name), payload)

    def _signal_input(self, name: str, args: Sequence[RawValue]) -> Any:
        """The one JSON input of a known signal, or ``Refused`` saying what is wrong with it."""
        if name not in SIGNALS:
            raise Refused(f"unknown signal {name!r}; a run takes {', '.join(SIGNALS)}")
        if len(args) > 1:
            raise Refused(f"the {name} signal takes one JSON object, not {len(args)} inputs")
        if not args:
            return None
        try:
            return workflow.payload_converter().from_payload(args[0].payload)
        except Exception as err:  # noqa: BLE001  (any undecodable input is refused, never raised)
            raise Refused(
                f"the {name} signal's input is not readable JSON (encoding {_encoding(args[0], 'none')}: {type(err).__name__})"
            ) from None

    @workflow.update(name="decide")
    def decide(self, decision: DecideInput) -> Decision:
        """Approve or reject a pending request; refused at once (nothing written) if not allowed."""
        request = check_decision(self._requests, decision, kind=decision.decision)
        update = workflow.current_update_info()
        accepted = Decision(
            request_id=request.id,
            kind=decision.decision,
            approver=decision.approver,
            reason=decision.reason,
            channel=Channel.UPDATE,
            at=workflow.now(),
            update_id=update.id if update else None,
        )
        self._apply(request, accepted)
        return accepted

    @decide.validator
    def _validate_decide(self, decision: DecideInput) -> None:
        if decision.expires_at is not None and workflow.now() > decision.expires_at:
            raise ApplicationError(
                f"the decision reached the run after it expired at {decision.expires_at:%H:%M:%S} UTC (no worker "
                "took it in time); nothing was decided: send it again",
                type="DecisionExpired",
                non_retryable=True,
            )
        try:
            check_decision(self._requests, decision, kind=decision.decision)
        except Refused as refusal:
            raise ApplicationError(str(refusal), type="DecisionRefused", non_retryable=True) from None

    # --------------------------------------------------------------- queries

    @workflow.query(name="status")
    def status(self) -> AgentStatus:
        return self.snapshot()

    def snapshot(self) -> AgentStatus:
        """The run's state; needs no workflow context, so an incident review can read it after a replay."""
        charter = self._mandate.charter if self._mandate else None
        return AgentStatus(
            workflow_id=self._workflow_id,
            agent=self.agent,
            state=self._state,
            requested_by=self._input.requested_by,
            input=self._input.input,
            owners=charter.owners if charter else None,
            steps=self._steps,
            pending=self._pending(),
            requests=list(self._requests.values()),
            decisions=self._decisions,
            refused=self._refused,
            refused_total=self._refused_total,
            violations=self._violations,
            escalations=self._escalations,
            rejections=self._rejections,
            cost=self._cost,
            compensations=self._compensations,
            killed=self._kill,
            outcome=self._outcome,
            summary=self._summary,
        )

    @workflow.query(name="pending_approvals")
    def pending_approvals(self) -> list[ApprovalRequest]:
        return self._pending()

    # --------------------------------------------------------------- helpers

    def _tool_timeout(self, tool: str) -> timedelta:
        info = self._mandate.tools.get(tool) if self._mandate else None
        return timedelta(seconds=info.timeout_seconds) if info and info.timeout_seconds else TOOL_TIMEOUT

    def _pending(self) -> list[ApprovalRequest]:
        return [r for r in self._requests.values() if r.status is RequestStatus.PENDING]

    def _end_step(self, step: Step, status: StepStatus, *, error: str | None = None) -> None:
        step.status = status
        step.error = error
        step.finished_at = workflow.now()

    def _flag(self, flag: str) -> None:
        if flag not in self._flags:
            self._flags.add(flag)
            self._publish()

    def _set_state(self, state: RunState) -> None:
        self._state = state
        self._publish()

    def _publish(self) -> None:
        """Note that the search attributes changed; write them now, or at the next wait when coalescing."""
        self._dirty = True
        if not self._coalesce:
            self._flush()

    def _flush(self) -> None:
        """Keep the search attributes current, writing only what changed."""
        if not self._dirty:
            return
        self._dirty = False
        pending = self._pending()
        workflow.set_current_details(_how_to_decide(pending))
        approvers = sorted({a for r in pending for a in r.eligible})
        values: dict[str, Any] = {
            sa.AGENT.name: self.agent,
            sa.STATE.name: self._state.value,
            sa.PENDING_APPROVALS.name: len(pending),
            sa.APPROVERS.name: approvers,
            sa.REQUESTED_BY.name: self._input.requested_by,
            sa.COST.name: round(self._cost, 6),
            sa.FLAGS.name: sorted(self._flags),
        }
        if self._mandate is not None:
            values[sa.OWNER.name] = self._mandate.charter.owners.workflow
        keys = {k.name: k for k in sa.ALL}
        updates: list[SearchAttributeUpdate[Any]] = [
            keys[name].value_set(value)
            for name, value in values.items()
            if self._published.get(name) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published.update(values)

    def _result(self) -> AgentResult:
        return AgentResult(
            agent=self.agent,
            state=self._state,
            outcome=self._outcome or "",
            summary=self._summary or "",
            steps=len(self._steps),
            cost=self._cost,
            violations=self._violations,
            rejections=self._rejections,
            escalations=self._escalations,
            refused_decisions=self._refused_total,
        )

    def _log(self, event: str, **context: Any) -> None:
        context.setdefault("agent", self.agent)
        workflow.logger.info(event, extra={"mandate": context})
