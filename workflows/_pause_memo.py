"""The monitor's pause, published in its memo so that every start reads it with one describe.

``mandate start`` and the worker's start check ask whether the agent is paused before each run. A
``pause_state`` query is answered by the monitor's worker (an activation, and the server's round trip to
it) for every start; the memo is read by the server alone. It is written only when the pause changes,
so a monitor's history grows by one event per kill, resume or change of stop/go owner. Monitors started
before the ``pause-memo`` patch publish nothing until their next continue-as-new; readers then ask by
query, as before.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.contract import PAUSE_MEMO
    from mandate.outcomes import PauseNotice, PauseState

__all__ = ["PAUSE_MEMO_PATCH", "PausePublisher"]

PAUSE_MEMO_PATCH = "pause-memo"


class PausePublisher:
    """Writes the monitor's ``PauseNotice`` to its memo when it differs from what was last written."""

    def __init__(self) -> None:
        self._enabled = False
        self._published: PauseNotice | None = None

    def start(self) -> None:
        """Call once, where the monitor's run begins: old histories replay without the memo."""
        self._enabled = workflow.patched(PAUSE_MEMO_PATCH)

    def publish(self, pause: PauseState | None) -> None:
        if not self._enabled or pause is None:
            return
        notice = PauseNotice.of(pause)
        if notice != self._published:
            workflow.upsert_memo({PAUSE_MEMO: notice})
            self._published = notice
