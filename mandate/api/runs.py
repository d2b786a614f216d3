"""Runs: start one, read its status (as the run tells it and as Temporal closed it), list what waits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowQueryFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa
from mandate.api._server import TRANSIENT, describe, has_worker, quote
from mandate.api.fleet import pause_notice
from mandate.charter import Charter
from mandate.contract import Query
from mandate.decisions import ApprovalRequest
from mandate.errors import AgentNotFoundError, AgentPausedError, MandateError, NoWorkerAnsweredError
from mandate.run import AgentRunInput, AgentStatus, RunState
from mandate.settings import load_settings
from mandate.signer import Signer
from mandate.statements import sha256_of

__all__ = [
    "ClosedState",
    "RunRecord",
    "RunStatus",
    "StatusNotAnsweredError",
    "PendingApproval",
    "start_search_attributes",
    "start_agent",
    "describe_run",
    "get_status",
    "list_pending",
]

STATUS_QUERY_TIMEOUT = 15.0


class ClosedState(StrEnum):
    """How Temporal closed a run that did not end by its own code (``failed`` is ``RunState.FAILED``)."""

    TERMINATED = "terminated"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"


class RunRecord(BaseModel):
    """What Temporal itself says of a run: its close status and search attributes, no worker needed."""

    workflow_id: str
    run_id: str | None = None
    workflow_type: str
    task_queue: str
    #: Temporal's status: running, completed, failed, canceled, terminated, continued_as_new, timed_out
    temporal_status: str
    #: Temporal's close status when it says more than the run could, else the state the run last published
    state: str
    agent: str | None = None
    requested_by: str | None = None
    pending_approvals: int | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


class RunStatus(AgentStatus):
    """The run's own status, with Temporal's word on how it closed.

    ``state`` follows Temporal where Temporal knows better: a run it marks failed, terminated, cancelled
    or timed out is never shown as still running, and has nothing pending. ``reported_state`` keeps what
    the run itself last said.
    """

    # A run closed by Temporal (terminated, ...) has a state the run's code never set.
    state: RunState | ClosedState  # type: ignore[assignment]
    reported_state: RunState
    temporal_status: str
    started_at: datetime | None = None
    closed_at: datetime | None = None


class StatusNotAnsweredError(NoWorkerAnsweredError):
    """The run did not answer its status query; ``record`` holds what Temporal says of it."""

    def __init__(self, message: str, record: RunRecord) -> None:
        super().__init__(message)
        self.record = record


def start_search_attributes(agent: str, charter: Charter, requested_by: str) -> TypedSearchAttributes:
    """What a run starts with, so the UI can filter it at once and the run need not write them again."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.AGENT, agent),
            SearchAttributePair(sa.OWNER, charter.owners.workflow),
            SearchAttributePair(sa.STATE, "running"),
            SearchAttributePair(sa.PENDING_APPROVALS, 0),
            SearchAttributePair(sa.REQUESTED_BY, requested_by),
        ]
    )


async def start_agent(
    client: Client,
    charters: Mapping[str, Charter],
    agent: str,
    *,
    input: dict[str, Any],
    requested_by: str,
    task_queue: str,
    workflow_id: str | None = None,
) -> str:
    """Start one run of ``agent``; returns its workflow id."""
    charter = charters.get(agent)
    if charter is None:
        known = ", ".join(sorted(charters)) or "none"
        raise AgentNotFoundError(f"no charter for agent {agent!r} (charters found: {known})")
    paused = await pause_notice(client, agent, task_queue=task_queue)
    if paused is not None and paused.paused:
        why, by = paused.reason or "stopped", paused.by or "?"
        raise AgentPausedError(
            f"{agent} is paused by {by} ({why}); only its stop/go owner {paused.stop_go_owner} can "
            f"`mandate resume {agent}`"
        )
    workflow_id = workflow_id or f"{agent}-{uuid.uuid4().hex[:12]}"
    start = Signer.of(requested_by).start(
        namespace=client.namespace, agent=agent, workflow_id=workflow_id, input=input
    )
    try:
        handle = await client.start_workflow(
            charter.workflow,
            AgentRunInput(input=input, requested_by=requested_by, start=start),
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=start_search_attributes(agent, charter, requested_by),
        )
    except RPCError as err:
        if err.status is RPCStatusCode.ALREADY_EXISTS:
            raise MandateError(f"a run with id {workflow_id!r} already exists; choose another --id") from None
        raise
    return handle.id


def _temporal_status(description: WorkflowExecutionDescription) -> str:
    return description.status.name.lower() if description.status else "unknown"


def run_record(description: WorkflowExecutionDescription) -> RunRecord:
    """A run as Temporal describes it, read without asking the run."""
    attrs = description.typed_search_attributes
    temporal = _temporal_status(description)
    published = attrs.get(sa.STATE)
    if temporal == "running" or (temporal == "completed" and published):
        state = published or "running"
    else:
        state = temporal
    return RunRecord(
        workflow_id=description.id,
        run_id=description.run_id,
        workflow_type=description.workflow_type,
        task_queue=description.task_queue,
        temporal_status=temporal,
        state=state,
        agent=attrs.get(sa.AGENT),
        requested_by=attrs.get(sa.REQUESTED_BY),
        pending_approvals=attrs.get(sa.PENDING_APPROVALS) if temporal == "running" else None,
        started_at=description.start_time,
        closed_at=description.close_time,
    )


def reconcile(status: AgentStatus, description: WorkflowExecutionDescription) -> RunStatus:
    """The run's status with Temporal's close status taking precedence over the run's last word."""
    temporal = _temporal_status(description)
    state: RunState | ClosedState = status.state
    if temporal == "failed":
        state = RunState.FAILED
    elif temporal in {c.value for c in ClosedState}:
        state = ClosedState(temporal)
    fields = dict(status)
    fields.update(
        state=state,
        reported_state=status.state,
        temporal_status=temporal,
        pending=status.pending if temporal == "running" else [],
        started_at=description.start_time,
        closed_at=description.close_time,
    )
    return RunStatus(**fields)


async def describe_run(client: Client, workflow_id: str) -> RunRecord:
    """What Temporal says of a run, without a worker: its status, when, for whom."""
    return run_record(await describe(client.get_workflow_handle(workflow_id)))


async def get_status(client: Client, workflow_id: str, *, timeout: float = STATUS_QUERY_TIMEOUT) -> RunStatus:
    """The run's steps, requests and decisions, from its ``status`` query, under Temporal's close status.

    A closed run still answers while a worker serves its agent. When no worker answers within
    ``timeout`` seconds (or none polls its task queue), ``StatusNotAnsweredError`` carries what
    Temporal says instead.
    """
    handle = client.get_workflow_handle(workflow_id)
    description = await describe(handle)
    record = run_record(description)
    if await has_worker(client, description.task_queue) is False:
        raise StatusNotAnsweredError(
            f"no worker polls task queue {description.task_queue!r}, so {workflow_id} cannot answer its "
            "status query",
            record,
        )
    try:
        status = await handle.query(
            Query.STATUS, result_type=AgentStatus, rpc_timeout=timedelta(seconds=timeout)
        )
    except WorkflowQueryFailedError as err:
        raise StatusNotAnsweredError(f"{workflow_id} did not answer its status query: {err}", record) from None
    except RPCError as err:
        if err.status not in TRANSIENT:
            raise
        raise StatusNotAnsweredError(
            f"no worker answered the status query of {workflow_id} within {timeout:.0f}s", record
        ) from None
    return reconcile(status, description)


@dataclass(frozen=True)
class PendingApproval:
    workflow_id: str
    agent: str
    request: ApprovalRequest


async def list_pending(
    client: Client, *, agent: str | None = None, concurrency: int = 50, task_queue: str | None = None
) -> list[PendingApproval]:
    """Every pending approval request across running workflows (found through visibility, read by query).

    Only runs on Mandate's task queue (``task_queue``, default the settings') are listed: a run elsewhere
    is answered by someone else's worker, whatever its search attributes claim. A request whose hash is
    not of the arguments it shows is left out too (no Mandate run shows one).
    """
    queue = task_queue or load_settings().task_queue
    query = f"{sa.PENDING_APPROVALS.name} > 0 AND ExecutionStatus = 'Running' AND TaskQueue = '{quote(queue)}'"
    if agent:
        query += f" AND {sa.AGENT.name} = '{quote(agent)}'"
    found: list[tuple[str, str]] = []
    async for wf in client.list_workflows(query):
        found.append((wf.id, wf.typed_search_attributes.get(sa.AGENT) or ""))
    gate = asyncio.Semaphore(concurrency)

    async def pending_of(workflow_id: str, agent_name: str) -> list[PendingApproval]:
        async with gate:
            try:
                requests = await client.get_workflow_handle(workflow_id).query(
                    Query.PENDING_APPROVALS, result_type=list[ApprovalRequest]
                )
            except (WorkflowQueryFailedError, RPCError):
                return []  # closed or not answering since the visibility read
        return [PendingApproval(workflow_id, agent_name, r) for r in requests if sha256_of(r.args) == r.args_hash]

    batches = await asyncio.gather(*(pending_of(w, a) for w, a in found))
    items = [p for batch in batches for p in batch]
    return sorted(items, key=lambda p: (p.request.requested_at, p.workflow_id))
