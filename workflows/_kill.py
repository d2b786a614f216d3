"""Who may stop a governed run, and the record of a kill it obeyed.

A run takes a kill from its charter's stop/go owner or from its agent's kill-criteria monitor, by the
``kill`` signal or update; a Temporal cancellation (the UI's "Request Cancellation") is recorded as a
kill by ``temporal``. Pure: the caller passes ``now``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mandate.contract import MONITOR
from mandate.decisions import Channel, KillInput, KillRecord, same_person
from mandate.errors import Refused, first_problem

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
) -> KillRecord:
    """The kill ``received`` orders, if its sender may stop this run now; else ``Refused`` saying why.

    ``killed_by`` names who already killed the run, if anyone; ``finished`` says it has ended.
    """
    if not isinstance(received, dict):
        raise Refused('kill input must be a JSON object: {"by": "...", "reason": "...", "rollback": true}')
    try:
        order = KillInput.model_validate(received)
    except ValidationError as err:
        raise Refused(first_problem(err)) from None
    if not (same_person(order.by, stop_go) or same_person(order.by, MONITOR)):
        raise Refused(f"{order.by} is not the stop/go owner of {agent} (only {stop_go} may kill it)")
    if killed_by is not None:
        raise Refused(f"the run was already killed by {killed_by}")
    if finished:
        raise Refused("the run has already finished")
    return KillRecord(at=now, by=order.by, reason=order.reason, rollback=order.rollback, channel=channel)


def cancelled_by_temporal(now: datetime) -> KillRecord:
    """A Temporal cancellation, recorded as a kill: pending requests are dropped, nothing is undone."""
    return KillRecord(at=now, by="temporal", reason="workflow cancelled", rollback=False, channel=Channel.CANCEL)
