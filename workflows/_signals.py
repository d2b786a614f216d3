"""A governed run's signals: from what the SDK hands over to one JSON input, or a reason to refuse.

A signal cannot answer its sender, and the SDK drops one whose input it cannot decode, so nothing a
signal carries may raise in a handler or be lost: a named handler (``approve``, ``reject``, ``kill``)
takes ``*inputs``, decoded without a type hint by ``mandate.converter`` (which hands over
``Undecodable`` for bytes that are not JSON or an unknown encoding), and any other name reaches the
dynamic handler as ``RawValue``s. ``one_input`` turns either into the one JSON value or ``Refused``;
``Refusals`` keeps what was refused, for ``mandate status`` and the incident report.

Pure: no workflow API, the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.common import RawValue

from mandate.contract import Signal
from mandate.converter import Undecodable
from mandate.decisions import Channel, RefusedDecision
from mandate.errors import Refused

__all__ = ["APPROVE_HELP", "REJECT_HELP", "KILL_HELP", "one_input", "unknown", "describe", "Refusals"]

# What the Web UI's "Send a Signal" shows beside each name (metadata only: a change does not touch replay).
APPROVE_HELP = "Approve a pending request: paste what `mandate sign WORKFLOW_ID --as APPROVER --decision approve` prints"
REJECT_HELP = (
    "Reject a pending request: paste what `mandate sign WORKFLOW_ID --as APPROVER --decision reject --reason WHY` prints"
)
KILL_HELP = "Stop this run: the stop/go owner's signed kill statement for it, as one JSON object"
#: Refused signals kept in full; beyond that only counted, so junk cannot grow a run's memory unbounded.
KEEP_REFUSED = 50


def one_input(name: str, inputs: Sequence[Any]) -> Any:
    """The one JSON value a known signal carries (``None`` for none), or ``Refused`` saying what is wrong."""
    if len(inputs) > 1:
        raise Refused(f"the {name} signal takes one JSON object, not {len(inputs)} inputs")
    if not inputs:
        return None
    value = inputs[0]
    if isinstance(value, Undecodable):
        encoding = value.encoding or "none"
        raise Refused(f"the {name} signal's input is not readable JSON (encoding {encoding}: {value.error})")
    return value


def unknown(name: str) -> Refused:
    """The refusal of a signal no handler is named for (a misspelt ``aprove``)."""
    return Refused(f"unknown signal {name!r}; a run takes {', '.join(s.value for s in Signal)}")


def describe(inputs: Sequence[Any]) -> str:
    """What a refused signal carried, for the record: raw inputs by encoding and first bytes."""
    parts = [_describe_one(value) for value in inputs[:3]]
    more = f" and {len(inputs) - 3} more" if len(inputs) > 3 else ""
    return f"{len(inputs)} input(s): " + "; ".join(parts) + more


def _describe_one(value: Any) -> str:
    if isinstance(value, RawValue | Undecodable):
        payload = value.payload
        encoding = payload.metadata.get("encoding", b"").decode(errors="replace") or "no encoding"
        return f"{encoding}, {len(payload.data)} bytes: {payload.data[:60]!r}"
    return repr(value)[:80]


class Refusals:
    """The signals a run refused: the last ``KEEP_REFUSED`` in full, and how many in all."""

    def __init__(self) -> None:
        self.kept: list[RefusedDecision] = []
        self.total = 0

    def record(self, *, kind: str, reason: str, received: Any, now: datetime) -> RefusedDecision:
        """Keep one refusal; ``received`` is the decoded input, or ``describe(inputs)`` when unreadable."""
        approver = received.get("approver") if isinstance(received, dict) else None
        request_id = received.get("request_id") if isinstance(received, dict) else None
        refused = RefusedDecision(
            at=now,
            channel=Channel.SIGNAL,
            kind=kind,
            reason=reason,
            approver=str(approver)[:200] if approver is not None else None,
            request_id=str(request_id)[:100] if request_id is not None else None,
            payload=repr(received)[:300],
        )
        self.total += 1
        self.kept.append(refused)
        del self.kept[:-KEEP_REFUSED]
        return refused
