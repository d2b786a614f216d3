"""What reaches a running run from outside: decisions and kills, by signal or by update.

Both go through the same checks (``approvals.ApprovalBook``, ``_kill.authorise_kill``). An update can
answer its sender: its validator refuses at once with an ``ApplicationError`` and nothing is written to
the history. A signal cannot: a refused one is recorded in the run's status (``_signals.Refusals``),
and the run goes on waiting. No workflow API here: the caller passes ``now``, the record publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from mandate.approvals import Refused, parse_payload
from mandate.contract import RunFlag, Signal
from mandate.decisions import Channel, DecideInput, Decision, DecisionKind, KillInput, KillRecord
from mandate.workflows import _signals
from mandate.workflows._kill import authorise_kill
from mandate.workflows._record import RunRecord

__all__ = ["Inbox"]


class Inbox:
    """Applies or refuses what a run receives, and notes its effects on the run's record."""

    def __init__(self, run: RunRecord, log: Callable[..., None]) -> None:
        self._run = run
        self._log = log

    # ---------------------------------------------------------------------------- decisions

    def decision_signal(self, kind: DecisionKind, inputs: Sequence[Any], now: datetime) -> None:
        """An ``approve`` / ``reject`` signal: applied, or refused and recorded."""
        try:
            received = _signals.one_input(kind.value, inputs)
        except Refused as refusal:
            self._refuse(kind.value, refusal, _signals.describe(inputs), now)
            return
        try:
            payload = parse_payload(received, kind=kind)
            decision = self._run.approvals.decide(payload, kind=kind, channel=Channel.SIGNAL, now=now)
        except Refused as refusal:
            self._refuse(kind.value, refusal, received, now)
            return
        self.applied(decision)

    def validate_decision_update(self, decision: DecideInput, now: datetime) -> None:
        """Refuse a ``decide`` update before it is accepted: expired, or not allowed."""
        if decision.expires_at is not None and now > decision.expires_at:
            raise ApplicationError(
                f"the decision reached the run after it expired at {decision.expires_at:%H:%M:%S} UTC (no worker "
                "took it in time); nothing was decided: send it again",
                type="DecisionExpired",
                non_retryable=True,
            )
        try:
            self._run.approvals.check(decision, kind=decision.decision, now=now)
        except Refused as refusal:
            raise ApplicationError(str(refusal), type="DecisionRefused", non_retryable=True) from None

    def decision_update(self, decision: DecideInput, *, update_id: str | None, now: datetime) -> Decision:
        """A validated ``decide`` update: applied, and returned to its sender.

        The validator ran the same checks; should one still refuse here, the update fails, never the task.
        """
        try:
            decided = self._run.approvals.decide(
                decision, kind=decision.decision, channel=Channel.UPDATE, now=now, update_id=update_id
            )
        except Refused as refusal:
            raise ApplicationError(str(refusal), type="DecisionRefused", non_retryable=True) from None
        return self.applied(decided)

    def applied(self, decision: Decision) -> Decision:
        """A decision (a person's, or the timeout's) was applied: a rejection is rework; publish; log."""
        if decision.kind is DecisionKind.REJECT:
            self._run.flag(RunFlag.REWORK)
        self._run.on_change()
        self._log(
            "approval_decided",
            request_id=decision.request_id,
            decision=decision.kind.value,
            approver=decision.approver,
            channel=decision.channel.value,
        )
        return decision

    # -------------------------------------------------------------------------------- kills

    def kill_signal(self, inputs: Sequence[Any], now: datetime) -> None:
        """A ``kill`` signal: obeyed, or refused and recorded."""
        received: Any = _signals.describe(inputs)
        try:
            received = _signals.one_input(Signal.KILL.value, inputs)
            if self._run.mandate is None:
                raise Refused("the run has not loaded its charter yet; send the kill again")
            record = self._kill_order(received, Channel.SIGNAL, now)
        except Refused as refusal:
            self._refuse(Signal.KILL.value, refusal, received, now)
            return
        self.stop(record)

    def validate_kill_update(self, order: KillInput, now: datetime) -> None:
        """Refuse a ``kill`` update before it is accepted: too early, or not from the stop/go owner."""
        if self._run.mandate is None:
            raise ApplicationError("the run has not loaded its charter yet; try again", type="NotReady")
        try:
            self._kill_order(order.model_dump(), Channel.UPDATE, now)
        except Refused as refusal:
            raise ApplicationError(str(refusal), type="KillRefused", non_retryable=True) from None

    def kill_update(self, order: KillInput, now: datetime) -> KillRecord:
        """A validated ``kill`` update: obeyed, and the kill returned to its sender."""
        try:
            record = self._kill_order(order.model_dump(), Channel.UPDATE, now)
        except Refused as refusal:
            raise ApplicationError(str(refusal), type="KillRefused", non_retryable=True) from None
        self.stop(record)
        return record

    def stop(self, record: KillRecord) -> None:
        """Obey a kill: record it and drop every pending request; the loop stops before its next step."""
        if self._run.kill is not None:
            return
        self._run.kill = record
        self._run.flag(RunFlag.KILLED)
        self._run.approvals.drop_pending(by=record.by, reason=record.reason, now=record.at)
        self._run.on_change()
        self._log("run_killed", by=record.by, reason=record.reason, rollback=record.rollback)

    def _kill_order(self, received: Any, channel: Channel, now: datetime) -> KillRecord:
        assert self._run.mandate is not None
        return authorise_kill(
            received,
            channel=channel,
            agent=self._run.agent,
            stop_go=self._run.mandate.charter.owners.stop_go,
            killed_by=self._run.kill.by if self._run.kill else None,
            finished=self._run.finished,
            now=now,
            proof=self._run.approvals.proof,
        )

    # ------------------------------------------------------------------------ anything else

    def unknown_signal(self, name: str, inputs: Sequence[Any], now: datetime) -> None:
        """A signal no handler is named for (a misspelt ``aprove``): refused and recorded."""
        self._refuse(name[:50], _signals.unknown(name), _signals.describe(inputs), now)

    def _refuse(self, kind: str, refusal: Refused, received: Any, now: datetime) -> None:
        self._run.refusals.record(kind=kind, reason=str(refusal), received=received, now=now)
        self._log("decision_refused", channel=Channel.SIGNAL.value, reason=str(refusal))
