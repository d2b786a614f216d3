"""Who is calling this activity, by the server's record: a system activity or a tool trusts no caller's word.

Anyone who can reach the Temporal frontend can run a workflow of their own, on a task queue of their
own, that calls Mandate's activities on Mandate's queue by name; and can give it any workflow type and,
once the real one has ended, any workflow id. ``activity.info()`` tells which run scheduled the call
(namespace, workflow id, run id and type, from the server), but not which task queue that run is on,
which is what says whose code it runs. So the worker asks the server's record of the run
(``mandate.origins``: one page of its history, read once per run and kept): a run of an agent's type on
Mandate's queue, whose start a worker verified, runs Mandate's code; a run anywhere else is refused.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from mandate.origins import OriginUnknownError, RunOrigin, RunOrigins

__all__ = ["Callers", "CALLER_REFUSED"]

#: The error type of a call refused for who made it (never retried).
CALLER_REFUSED = "CallerRefused"


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type=CALLER_REFUSED, non_retryable=True)


class Callers:
    """Checks the run that scheduled a call against the server's record of it."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.task_queue = task_queue
        self._origins = RunOrigins(client)

    def loaded(self, info: activity.Info, *, protocol: int, verified_start: bool) -> None:
        """A run's ``load_mandate`` ran here, as a local activity: its workflow task came from this worker's
        own task queue, so its origin is known first-hand and its calls need no history read. (The time
        is the load's, a moment after the start: a kill's issued-before-start check only gets stricter.)"""
        self._origins.remember(
            RunOrigin(
                workflow_id=info.workflow_id or "",
                run_id=info.workflow_run_id or "",
                workflow_type=info.workflow_type or "",
                task_queue=self.task_queue,
                started_at=datetime.now(UTC),
                protocol=protocol,
                verified_start=verified_start,
            )
        )

    async def require(
        self,
        info: activity.Info,
        *,
        types: Collection[str],
        what: str,
        workflow_id: str | None = None,
        verified_start: bool = False,
    ) -> RunOrigin:
        """The caller's record, if it is a run of one of ``types`` on this worker's task queue (and, when
        asked, has ``workflow_id`` and a start a worker verified); else a non-retryable ``CallerRefused``."""
        if info.workflow_type not in types:
            raise _refuse(f"{what} runs only for {_names(types)}; workflow type {info.workflow_type!r} is none of them")
        if workflow_id is not None and info.workflow_id != workflow_id:
            raise _refuse(f"{what} runs only for {workflow_id}, not {info.workflow_id}")
        try:
            origin = await self._origins.of(info.workflow_id or "", info.workflow_run_id or "")
        except OriginUnknownError as err:  # retried: the server's record is needed, not guessed
            raise ApplicationError(str(err), type="CallerUnknown") from None
        if origin.task_queue != self.task_queue:
            raise _refuse(
                f"{what} runs only for runs on task queue {self.task_queue!r}; {origin.workflow_id} is a "
                f"{origin.workflow_type} run on {origin.task_queue!r}, which Mandate's workers do not serve"
            )
        if verified_start and not origin.verified_start:
            raise _refuse(f"{what} runs only for runs whose start a worker verified; {origin.workflow_id}'s was not")
        return origin


def _names(types: Collection[str]) -> str:
    return ", ".join(sorted(types)) or "no workflow"
