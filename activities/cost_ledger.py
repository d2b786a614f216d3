"""The cost of an agent's runs in the kill criteria's window, kept between the monitor's checks.

Visibility counts runs but cannot add up a search attribute, so the cost per completed run needs every
run's ``MandateCost``. Listing every run of the window at every check grows with the fleet: at 20 runs a
second, a one-hour window is 72,000 runs listed every 30 s. A closed run's cost never changes again, so
the ledger keeps each closed run's cost and, from its second check on, lists only the runs closed since
the one before (with an overlap for visibility's lag and the two clocks), plus the runs still running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution

from mandate import search_attributes as sa
from mandate.activities.started_runs import run_key

__all__ = ["CostLedger", "OVERLAP", "visibility_time"]

#: How far back a check reads runs closed before the previous check: visibility's lag and clock skew.
OVERLAP = timedelta(seconds=60)


def visibility_time(moment: datetime) -> str:
    """A moment as a visibility query compares it (UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Book:
    closed: dict[str, tuple[datetime, float]] = field(default_factory=dict)  # workflow id/run id -> (start, cost)
    read_until: datetime | None = None


class CostLedger:
    """Adds up the cost of the runs a visibility filter selects, started in a window, reading only changes."""

    def __init__(self, client: Client, *, overlap: timedelta = OVERLAP) -> None:
        self._client = client
        self._overlap = overlap
        self._books: dict[str, _Book] = {}
        #: How many runs the last ``total`` read from visibility (the work it did).
        self.last_read = 0

    async def total(self, runs: str, start: datetime, end: datetime) -> dict[str, float]:
        """Each run's cost (by ``workflow id/run id``), for the runs ``runs`` selects that started in [start, end]."""
        book = self._books.setdefault(runs, _Book())
        window = f"{runs} AND StartTime >= '{visibility_time(start)}' AND StartTime <= '{visibility_time(end)}' AND {sa.COST.name} > 0"
        costs: dict[str, float] = {}
        self.last_read = 0
        # Running runs first: one that closes between the two reads is then in both, counted once.
        async for run in self._client.list_workflows(f"{window} AND ExecutionStatus = 'Running'"):
            costs[run_key(run)] = _cost(run)
            self.last_read += 1
        if book.read_until is None:
            closed = f"{window} AND ExecutionStatus != 'Running'"
        else:  # by close time alone, so that the server reads only the recently closed; start is checked here
            since = visibility_time(book.read_until - self._overlap)
            closed = f"{runs} AND {sa.COST.name} > 0 AND ExecutionStatus != 'Running' AND CloseTime >= '{since}'"
        async for run in self._client.list_workflows(closed):
            if start <= run.start_time <= end:
                book.closed[run_key(run)] = (run.start_time, _cost(run))
            self.last_read += 1
        book.read_until = end
        for key in [k for k, (started, _) in book.closed.items() if started < start]:
            del book.closed[key]
        costs.update((key, cost) for key, (started, cost) in book.closed.items() if started <= end)
        return costs


def _cost(run: WorkflowExecution) -> float:
    return run.typed_search_attributes.get(sa.COST) or 0.0
