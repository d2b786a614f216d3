"""Logging, configured once at process start.

Everything goes through structlog. Workflow code logs with ``workflow.logger`` (which
stays silent during replay and touches no clock); its records pass through the same
processors, which lift the workflow's id, run id and Mandate context (agent, tool,
authority) into the event. Activity code binds the same keys with structlog's
context variables.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
import temporalio.activity
import temporalio.workflow

__all__ = ["configure_logging"]


def _lift_temporal_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event.get("_record")
    if record is None:
        return event
    wf = getattr(record, "temporal_workflow", None)
    if isinstance(wf, dict):
        event.setdefault("workflow_id", wf.get("workflow_id"))
        event.setdefault("run_id", wf.get("run_id"))
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, dict):
        event.setdefault("workflow_id", act.get("workflow_id"))
        event.setdefault("run_id", act.get("workflow_run_id"))
        event.setdefault("activity", act.get("activity_type"))
    bound = getattr(record, "mandate", None)
    if isinstance(bound, dict):
        for key, value in bound.items():
            event.setdefault(key, value)
    return event


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr as JSON lines or readable console lines."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # An event below the level is dropped before any processor runs (a tool logs on every call).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _lift_temporal_context],
        processors=[
            _lift_temporal_context,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDK's own chatter about every poll is not what an operator needs.
    logging.getLogger("temporalio").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("temporalio.workflow").setLevel(root.level)
    logging.getLogger("temporalio.activity").setLevel(root.level)
    # Context goes in key-value pairs, not appended to the message.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
