"""Where a run comes from, by the server's own record: its type, task queue, start and verified start.

Search attributes, memos and query answers are whatever a run's starter or its worker chose to say. The
first page of a run's history is the server's record: its first event names the workflow type, the task
queue and the start time, and Mandate's ``load_mandate`` marker (a local activity, which only the worker
that runs the workflow can record) says whether a Mandate worker let the run start, and with which
protocol. A run of an agent's type on Mandate's task queue runs Mandate's code; a run anywhere else is
someone else's, whatever it claims. The answers never change for a run, so they are kept (bounded).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from mandate.contract import LOAD_MANDATE_ACTIVITY
from mandate.errors import MandateError

__all__ = ["RunOrigin", "RunOrigins", "OriginUnknownError", "load_mandate_result", "SIGNED_STARTS"]

#: The marker comes with a run's first workflow task; a run with none this far in never loaded its mandate.
EVENTS_TO_READ = 50
#: The marker is usually the fifth event: a small first page, the next fetched only if needed.
PAGE_SIZE = 10
#: Runs recorded before protocol 4 took the requester's name as sent: their starts count as verified.
SIGNED_STARTS = 4


class OriginUnknownError(MandateError):
    """The server's record of a run could not be read (the server did not answer, or has no such run)."""


@dataclass(frozen=True)
class RunOrigin:
    """What the server recorded of one run's start."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    started_at: datetime
    #: The protocol in the run's load_mandate marker; None when it has none (yet).
    protocol: int | None
    #: Whether a worker let it start (its marker records no refusal).
    verified_start: bool


def load_mandate_result(event: object) -> dict[str, object] | None:
    """The ``load_mandate`` local activity's result in a marker, or None for any other marker."""
    details = event.marker_recorded_event_attributes.details  # type: ignore[attr-defined]
    data = details.get("data")
    if data is None or not any(LOAD_MANDATE_ACTIVITY.encode() in p.data for p in data.payloads):
        return None
    result = details.get("result")
    if result is None or not result.payloads:
        return {"refused": "the worker could not load the charter"}
    try:
        value = json.loads(result.payloads[0].data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class RunOrigins:
    """The server's record of each run asked about, read once (one page of history) and kept."""

    def __init__(self, client: Client, *, keep: int = 20_000) -> None:
        self._client = client
        self._known: OrderedDict[tuple[str, str], RunOrigin] = OrderedDict()
        self._keep = keep
        self._reading: dict[tuple[str, str], asyncio.Future[RunOrigin]] = {}

    def remember(self, origin: RunOrigin) -> None:
        """Keep what this process knows first-hand (a worker that ran the run's ``load_mandate``)."""
        self._known[(origin.workflow_id, origin.run_id)] = origin
        while len(self._known) > self._keep:
            self._known.popitem(last=False)

    async def of(self, workflow_id: str, run_id: str) -> RunOrigin:
        key = (workflow_id, run_id)
        known = self._known.get(key)
        if known is not None:
            return known
        reading = self._reading.get(key)
        if reading is None:  # one read per run, however many of its calls arrive at once
            reading = self._reading[key] = asyncio.ensure_future(self._read(workflow_id, run_id))
            reading.add_done_callback(lambda _: self._reading.pop(key, None))
        origin = await asyncio.shield(reading)
        if origin.protocol is not None:  # before its first task the marker may come yet: ask again then
            self._known[key] = origin
            while len(self._known) > self._keep:
                self._known.popitem(last=False)
        return origin

    async def _read(self, workflow_id: str, run_id: str) -> RunOrigin:
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id or None)
        started: tuple[str, str, datetime, str] | None = None
        protocol: int | None = None
        verified = False
        seen = 0
        try:
            async for event in handle.fetch_history_events(page_size=PAGE_SIZE):
                seen += 1
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                    attrs = event.workflow_execution_started_event_attributes
                    at = event.event_time.ToDatetime().replace(tzinfo=UTC)
                    started = (attrs.workflow_type.name, attrs.task_queue.name, at, attrs.original_execution_run_id)
                elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
                    loaded = load_mandate_result(event)
                    if loaded is not None:
                        value = loaded.get("protocol")
                        protocol = value if isinstance(value, int) else 1
                        verified = loaded.get("refused") is None or protocol < SIGNED_STARTS
                        break
                if seen >= EVENTS_TO_READ:
                    break
        except RPCError as err:
            raise OriginUnknownError(f"cannot read the server's record of {workflow_id}: {err.message}") from None
        if started is None:
            raise OriginUnknownError(f"the server has no start event for {workflow_id}")
        workflow_type, task_queue, at, original_run_id = started
        return RunOrigin(
            workflow_id=workflow_id,
            run_id=run_id or original_run_id,
            workflow_type=workflow_type,
            task_queue=task_queue,
            started_at=at,
            protocol=protocol,
            verified_start=verified,
        )
