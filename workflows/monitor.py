"""The kill-criteria monitor: one long-running workflow per agent.

At the charter's ``check_every`` it computes the agent's outcome metrics over the charter's ``window``
(an activity reading visibility) and compares them with the thresholds. On a breach it takes the
charter's action: ``pause`` refuses new starts, ``cancel`` also cancels every running run, ``rollback``
tells every running run to undo its completed writes. Only the stop/go owner resumes. Every decision
that acts is kept with its evidence. The history stays small through continue-as-new.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from mandate.charter import KillCriteria
    from mandate.contract import (
        ENFORCE_ACTIVITY,
        EVALUATE_ACTIVITY,
        LOAD_MANDATE_ACTIVITY,
        MONITOR,
        MONITOR_WORKFLOW,
        Query,
        Update,
        monitor_id,
    )
    from mandate.decisions import KillRequest
    from mandate.outcomes import (
        EnforceInput,
        EnforceResult,
        Evaluation,
        KillAction,
        KillDecision,
        MetricsQuery,
        OutcomeMetrics,
        PauseState,
        ResumeInput,
    )
    from mandate.run import AgentMandate, LoadMandateInput
    from mandate.statements import Act, SignedStatement
    from mandate.workflows._fleet_orders import FLEET_ORDERS_ONCE, FleetOrders
    from mandate.workflows._monitor_rules import (
        ENFORCE_RETRY,
        IDLE_RELOAD,
        KEEP_DECISIONS,
        SIGNED_AUTHORITY,
        MonitorInput,
        check_carried,
        evaluate,
        require_signed_order,
        require_stop_go,
    )
    from mandate.workflows._pause_memo import PausePublisher
    from mandate.workflows._predecessor import carried_pause

__all__ = ["KillMonitor", "MonitorInput", "monitor_id"]


@workflow.defn(name=MONITOR_WORKFLOW)
class KillMonitor:
    @workflow.init
    def __init__(self, monitor_input: MonitorInput) -> None:
        self._agent = monitor_input.agent
        self._pause = monitor_input.pause
        self._decisions = list(monitor_input.decisions)
        self._last = monitor_input.last_evaluation
        self._checks_per_run = monitor_input.checks_per_run
        self._mandate: AgentMandate | None = None
        self._busy = False
        self._pending_kill: KillDecision | None = None
        self._memo = PausePublisher()
        # Monitors from before signed authority took names as sent; new ones take the patch (kills and
        # resumes signed by the stop/go owner), publish their pause (``_pause_memo``), take each signed
        # order once, in order (``_fleet_orders``), and keep a predecessor's pause (``_predecessor``).
        self._signed = True
        self._orders = FleetOrders.of(monitor_input.used_orders)

    @workflow.run
    async def run(self, monitor_input: MonitorInput) -> None:
        self._signed = workflow.patched(SIGNED_AUTHORITY)
        self._orders.enforced = self._signed and workflow.patched(FLEET_ORDERS_ONCE)
        self._memo.start()
        self._pause = await carried_pause(self._agent, self._pause) if self._signed else self._pause
        await self._reload()
        if self._signed:
            self._check_carried()
        self._memo.publish(self._pause)
        for _ in range(self._checks_per_run):
            assert self._mandate is not None and self._pause is not None
            criteria = self._mandate.charter.kill_criteria
            with contextlib.suppress(TimeoutError):  # the timeout is the check interval
                await workflow.wait_condition(
                    lambda: self._pending_kill is not None,
                    timeout=criteria.check_every if criteria else IDLE_RELOAD,
                )
            if self._pending_kill is not None:
                decision, self._pending_kill = self._pending_kill, None
                await self._act(decision)
                continue
            # The worker's charter may have changed (a lowered threshold): judge by today's.
            await self._reload()
            criteria = self._mandate.charter.kill_criteria
            if criteria is not None and not self._pause.paused:
                await self._check(criteria)
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._pending_kill is None)
        workflow.continue_as_new(
            MonitorInput(
                agent=self._agent, pause=self._pause, decisions=self._decisions, last_evaluation=self._last,
                checks_per_run=self._checks_per_run, used_orders=self._orders.carried(workflow.now()),
            )  # fmt: skip
        )

    async def _reload(self) -> None:
        self._mandate = await workflow.execute_local_activity(
            LOAD_MANDATE_ACTIVITY,
            LoadMandateInput(agent=self._agent),
            result_type=AgentMandate,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["AgentNotServed"]),
        )
        owner = self._mandate.charter.owners.stop_go
        if self._pause is None:
            self._pause = PauseState(agent=self._agent, paused=False, stop_go_owner=owner)
        elif self._pause.stop_go_owner != owner:
            self._pause = self._pause.model_copy(update={"stop_go_owner": owner})
            self._memo.publish(self._pause)

    async def _check(self, criteria: KillCriteria) -> None:
        assert self._pause is not None
        metrics = await workflow.execute_activity(
            EVALUATE_ACTIVITY,
            MetricsQuery(
                agent=self._agent,
                window_seconds=criteria.window.total_seconds(),
                since=self._pause.since,
                **self._runs_filter(),
            ),
            result_type=OutcomeMetrics,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        evaluation = evaluate(metrics, criteria, workflow.now())
        self._last = evaluation
        if evaluation.breaches:
            worst = "; ".join(f"{b.metric} {b.value:g} > {b.threshold:g}" for b in evaluation.breaches)
            workflow.logger.warning(
                "kill_criteria_breached", extra={"mandate": {"agent": self._agent, "breaches": worst}}
            )
            await self._act(
                KillDecision(
                    at=workflow.now(),
                    agent=self._agent,
                    by=MONITOR,
                    reason=f"kill criteria breached: {worst}",
                    action=criteria.action,
                    evaluation=evaluation,
                )
            )

    def _runs_filter(self) -> dict[str, str]:
        """Signed monitors count and stop only runs of the charter's workflow type on this task queue."""
        if not self._signed or self._mandate is None:
            return {}
        return {"workflow_type": self._mandate.charter.workflow, "task_queue": workflow.info().task_queue}

    def _check_carried(self) -> None:
        """What a continue-as-new (or a restart with input someone wrote) carried is verified, not trusted."""
        assert self._mandate is not None and self._pause is not None
        self._pause = check_carried(self._decisions, self._pause, self._mandate.keys, self._agent)

    async def _act(self, decision: KillDecision) -> None:
        assert self._pause is not None
        self._busy = True
        try:
            if decision.workflow is None:
                self._pause = PauseState(
                    agent=self._agent,
                    paused=True,
                    stop_go_owner=self._pause.stop_go_owner,
                    decision=decision,
                    since=self._pause.since,
                )
                self._memo.publish(self._pause)
            result = await workflow.execute_activity(
                ENFORCE_ACTIVITY,
                EnforceInput(
                    agent=self._agent,
                    action=cast(KillAction, decision.action),  # a resume never reaches _act
                    by=decision.by,
                    reason=decision.reason,
                    workflow=decision.workflow,
                    statement=decision.statement,
                    **self._runs_filter(),
                ),
                result_type=EnforceResult,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=ENFORCE_RETRY,
            )
            decision.workflows = result.workflows
            decision.unreachable = result.unreachable
            if decision.statement is None:  # a breach: the service key signed each run's kill
                decision.verified = result.signed
            self._decisions.append(decision)
            del self._decisions[:-KEEP_DECISIONS]
            killed = {"agent": self._agent, "action": decision.action, "by": decision.by}
            workflow.logger.warning("agent_killed", extra={"mandate": {**killed, "workflows": len(result.workflows)}})
        finally:
            self._busy = False

    # ---------------------------------------------------------------- handlers

    def _signed_order(self, statement: SignedStatement | None, act: Act, workflow_id: str) -> None:
        """Refuse (as the update's error) an order the stop/go owner did not sign, or one taken or outdated."""
        if self._signed:
            if self._mandate is None or self._pause is None:  # no keys to verify with yet: nothing is taken
                raise ApplicationError("the monitor is loading its charter; send the order again", type="MonitorLoading")
            namespace = self._mandate.namespace or workflow.info().namespace
            require_signed_order(statement, act, self._mandate.keys, namespace, self._pause, workflow_id, workflow.now())
            self._orders.require_fresh(statement, self._decisions)

    @workflow.update(name=Update.KILL)
    async def kill(self, order: KillRequest) -> KillDecision:
        """The stop/go owner stops the fleet (or one run)."""
        await workflow.wait_condition(lambda: self._pause is not None and self._mandate is not None)  # loading
        require_stop_go(order.by, self._pause)  # type: ignore[arg-type]  # set once loaded
        self._signed_order(order.statement, Act.KILL, order.workflow or "")
        await workflow.wait_condition(lambda: self._pending_kill is None and not self._busy)
        self._orders.require_fresh(order.statement, self._decisions)  # again: another may have come first
        self._orders.use(order.statement)
        decision = KillDecision(
            at=workflow.now(),
            agent=self._agent,
            by=order.by,
            reason=order.reason,
            action="rollback" if order.rollback else "cancel",
            workflow=order.workflow,
            statement=order.statement,
            verified=self._signed and order.statement is not None,
        )
        self._pending_kill = decision
        await workflow.wait_condition(lambda: any(d is decision for d in self._decisions))
        return decision

    @kill.validator
    def _validate_kill(self, order: KillRequest) -> None:
        if self._pause is not None:
            require_stop_go(order.by, self._pause)
        if self._mandate is not None:  # before the charter loads, the handler checks, once it has
            self._signed_order(order.statement, Act.KILL, order.workflow or "")

    @workflow.update(name=Update.RESUME)
    def resume(self, order: ResumeInput) -> PauseState:
        """The stop/go owner lifts the stop; the monitor then judges only runs started from now on."""
        assert self._pause is not None
        self._orders.use(order.statement)
        self._pause = PauseState(
            agent=self._agent, paused=False, stop_go_owner=self._pause.stop_go_owner, since=workflow.now()
        )
        self._memo.publish(self._pause)
        self._decisions.append(
            KillDecision(
                at=workflow.now(),
                agent=self._agent,
                by=order.by,
                reason=order.reason,
                action="resume",
                statement=order.statement,
                verified=self._signed and order.statement is not None,
            )
        )
        return self._pause

    @resume.validator
    def _validate_resume(self, order: ResumeInput) -> None:
        if self._pause is not None:
            require_stop_go(order.by, self._pause)
        self._signed_order(order.statement, Act.RESUME, "")
        if self._pause is None or not self._pause.paused:
            raise ApplicationError(f"{self._agent} is not paused", type="NotPaused", non_retryable=True)

    @workflow.query(name=Query.PAUSE_STATE)
    def pause_state(self) -> PauseState | None:
        return self._pause

    @workflow.query(name=Query.DECISIONS)
    def decisions(self) -> list[KillDecision]:
        return self._decisions

    @workflow.query(name="last_evaluation")
    def last_evaluation(self) -> Evaluation | None:
        return self._last
