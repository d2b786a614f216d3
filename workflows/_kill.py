"""Who may stop a governed run, and the record of a kill it obeyed.

A run takes a kill from its charter's stop/go owner or from its agent's kill-criteria monitor, by the
``kill`` signal or update; a Temporal cancellation (the UI's "Request Cancellation") is recorded as a
kill by ``temporal``. Pure: the caller passes ``now``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mandate.approvals.proof import Proof
from mandate.contract import MONITOR
from mandate.decisions import Channel, KillInput, KillRecord, same_person
from mandate.errors import Refused, StatementRefused, first_problem
from mandate.statements import parse_statement

__all__ = ["authorise_kill", "cancelled_by_temporal"]


def authorise_kill(
    received: Any,
    *,
    channel: Channel,
    agent: str,
    stop_go: str,
    killed_by: str | None,
    finished: bool,
    now: datetime,
    proof: Proof | None = None,
) -> KillRecord:
    """The kill ``received`` orders, if its sender may stop this run now; else ``Refused`` saying why.

    ``killed_by`` names who already killed the run, if anyone; ``finished`` says it has ended. With a
    ``proof`` (runs from protocol 4) the kill must be a statement signed by the stop/go owner or the
    monitor's service key; before, the name sent was taken as it was.
    """
    order = kill_order(received)
    if proof is not None:
        proven = proof.kill(order, stop_go=stop_go, now=now)
        assert proven.statement is not None
        order = KillInput(
            by=proven.who,
            reason=proven.reason or "(no reason given)",
            rollback=proven.statement.rollback,
            statement=proven.statement,
        )
    elif not (same_person(order.by, stop_go) or same_person(order.by, MONITOR)):
        raise Refused(f"{order.by} is not the stop/go owner of {agent} (only {stop_go} may kill it)")
    if killed_by is not None:
        raise Refused(f"the run was already killed by {killed_by}")
    if finished:
        raise Refused("the run has already finished")
    return KillRecord(
        at=now,
        by=order.by,
        reason=order.reason,
        rollback=order.rollback,
        channel=channel,
        statement=order.statement,
        verified=proof is not None,
    )


def kill_order(received: Any) -> KillInput:
    """A kill's input: ``{"by": ..., "reason": ..., "rollback": ...}`` with its statement, or the signed
    statement alone (as ``mandate sign``-style output pasted into the UI); ``Refused`` if malformed."""
    if not isinstance(received, dict):
        raise Refused('kill input must be a JSON object: {"by": "...", "reason": "...", "rollback": true}')
    if "signature" in received:
        try:
            statement = parse_statement(received)
        except StatementRefused as refusal:
            raise Refused(str(refusal)) from None
        return KillInput(
            by=statement.signer,
            reason=statement.reason or "(no reason given)",
            rollback=statement.rollback,
            statement=statement,
        )
    try:
        return KillInput.model_validate(received)
    except ValidationError as err:
        raise Refused(first_problem(err)) from None


def cancelled_by_temporal(now: datetime) -> KillRecord:
    """A Temporal cancellation, recorded as a kill: pending requests are dropped, nothing is undone."""
    return KillRecord(at=now, by="temporal", reason="workflow cancelled", rollback=False, channel=Channel.CANCEL)
