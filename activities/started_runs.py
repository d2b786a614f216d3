"""Which runs a worker let start: the kill criteria count only those.

Search attributes are whatever a starter wrote. A run of the agent's own workflow type on Mandate's task
queue, started unsigned with the stock `temporal` CLI and claiming ``MandateAgent`` and a few flags, is
refused at once by the worker (it fails); counted, a handful of them would let anyone with the frontend
trip the kill criteria and roll back a fleet. A run's history says whether a worker verified its start:
its ``load_mandate`` marker records no refusal. Only runs that are failed, ended by Temporal or flagged
are looked at (an incident's worth, not the fleet), and a run's answer is kept: its start never changes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from temporalio.client import Client, WorkflowExecution

from mandate.origins import OriginUnknownError, RunOrigins, load_mandate_result

__all__ = ["StartedRuns", "load_mandate_result", "run_key"]


def run_key(run: WorkflowExecution) -> str:
    """One run of a workflow id, as the monitor's answers and costs are kept: ``workflow id/run id``."""
    return f"{run.id}/{run.run_id}"


class StartedRuns:
    """Answers, per run, whether a worker verified its start (and remembers the answers)."""

    def __init__(self, client: Client, *, keep: int = 20_000, concurrency: int = 20) -> None:
        self._origins = RunOrigins(client)  # the server's record of each run (mandate.origins)
        self._known: OrderedDict[str, bool] = OrderedDict()
        self._keep = keep
        self._gate = asyncio.Semaphore(concurrency)

    async def unverified(self, runs: list[WorkflowExecution]) -> list[WorkflowExecution]:
        """The runs among ``runs`` whose start no worker verified: refused, or never looked at by a worker."""
        verdicts = await asyncio.gather(*(self._verified(run) for run in runs))
        return [run for run, verified in zip(runs, verdicts, strict=True) if not verified]

    async def _verified(self, run: WorkflowExecution) -> bool:
        key = run_key(run)
        if key in self._known:
            return self._known[key]
        async with self._gate:
            verified = await self._read(run)
        if verified is not None:  # unknown (the history could not be read): ask again next time
            self._known[key] = verified
            while len(self._known) > self._keep:
                self._known.popitem(last=False)
        return bool(verified) if verified is not None else True

    async def _read(self, run: WorkflowExecution) -> bool | None:
        try:
            origin = await self._origins.of(run.id, run.run_id or "")
        except OriginUnknownError:
            return None
        return origin.verified_start  # no marker: refused, or never looked at by a worker
