"""What the API asks the server before it asks a run: does the run exist, does a worker poll its queue."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from mandate.errors import MandateError, NoWorkerAnsweredError

__all__ = ["TRANSIENT", "describe", "has_worker", "require_worker", "quote"]

#: RPC failures a busy or restarting server gives; worth a second look, not a refusal.
TRANSIENT = (
    RPCStatusCode.CANCELLED,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED,
)


async def describe(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    """The run as Temporal describes it; an unknown id is one line naming it."""
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise MandateError(f"no workflow with id {handle.id!r}") from None
        raise


async def has_worker(client: Client, task_queue: str) -> bool | None:
    """Whether a worker polls ``task_queue``; ``None`` when a busy server would not say."""
    try:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError as err:
        if err.status in TRANSIENT:
            return None
        raise
    return bool(response.pollers)


async def require_worker(client: Client, task_queue: str, *, grace: float = 2.0) -> None:
    """Refuse before sending anything when no worker polls the run's task queue.

    A worker that has just started may take a moment to show as a poller, so look again
    for ``grace`` seconds before refusing. A busy server that will not say is let through:
    this is only a courtesy check, and a decision expires unapplied if no worker takes it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while True:
        polled = await has_worker(client, task_queue)
        if polled is None or polled:
            return
        if loop.time() >= deadline:
            raise NoWorkerAnsweredError(
                f"no worker is polling task queue {task_queue!r}; start `mandate worker` (nothing was decided)"
            )
        await asyncio.sleep(0.25)


def quote(value: str) -> str:
    """A value for a visibility query's single-quoted string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
