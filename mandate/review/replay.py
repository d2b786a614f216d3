"""Replaying a history against today's workflow code, keeping the state the replay rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from mandate.converter import mandate_data_converter
from mandate.errors import MandateError
from mandate.review.divergence import explain
from mandate.run import AgentMandate, AgentStatus

__all__ = ["ReplayOutcome", "replay_history", "replayer"]

# Instances the replays created, by run id (filled from inside the sandbox; this module is passed through).
_instances: dict[str, Any] = {}
#: The runtime replays run on unless asked for the detail: the SDK core's WARN lines (ANSI-coloured, about
#: its own state machines) would say on stderr what ``ReplayOutcome.failure`` says in words.
_quiet: Runtime | None = None


@dataclass
class ReplayOutcome:
    """What replaying one history told us."""

    workflow_id: str
    run_id: str
    workflow_type: str
    reproduced: bool
    #: Where today's code left the history, in one sentence (``mandate.review.divergence``).
    failure: str | None
    status: AgentStatus | None
    mandate: AgentMandate | None
    #: The SDK's own text of the failure (its core's debug struct), for ``mandate replay --verbose``.
    detail: str | None = None


class _KeepInstance(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        _instances[workflow.info().run_id] = workflow.instance()
        return await super().execute_workflow(input)


class _KeepInstances(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _KeepInstance


def _runtime(verbose: bool) -> Runtime | None:
    """The SDK's default runtime for ``verbose``, else one whose core logs only errors (made once)."""
    global _quiet
    if verbose:
        return None
    if _quiet is None:
        quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        _quiet = Runtime(telemetry=TelemetryConfig(logging=quiet))
    return _quiet


def replayer(workflows: Sequence[type], *, verbose: bool = False) -> Replayer:
    """A ``Replayer`` for ``workflows`` that keeps each replayed instance for ``replay_history``."""
    # Replay compares the commands today's code issues with the history; the sandbox guards live runs
    # against non-deterministic calls and only slows a review down (6,300 vs 16,000 events/s).
    return Replayer(
        workflows=workflows,
        data_converter=mandate_data_converter,
        interceptors=[_KeepInstances()],
        workflow_runner=UnsandboxedWorkflowRunner(),
        runtime=_runtime(verbose),
    )


def _run_id(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.original_execution_run_id or started.first_execution_run_id


async def replay_history(history: WorkflowHistory, workflows: Sequence[type], *, verbose: bool = False) -> ReplayOutcome:
    """Replay ``history``; report whether today's code reproduces it, where not, and the state it rebuilt."""
    started = history.events[0].workflow_execution_started_event_attributes
    known = sorted(d.name for d in map(workflow._Definition.from_class, workflows) if d is not None and d.name)
    if started.workflow_type.name not in known:  # the SDK would log a traceback, and it is no divergence
        raise MandateError(
            f"{history.workflow_id} is a {started.workflow_type.name} run, a workflow no agent loaded here defines "
            f"({', '.join(known)}); load the app that does with --app MODULE"
        )
    run_id = _run_id(history)
    result = await replayer(workflows, verbose=verbose).replay_workflow(history, raise_on_replay_failure=False)
    instance = _instances.pop(run_id, None)
    status = mandate = None
    if instance is not None and hasattr(instance, "snapshot"):
        status = instance.snapshot()
        mandate = getattr(instance, "_mandate", None)
    failure = detail = None
    if result.replay_failure is not None:
        detail = " ".join(str(result.replay_failure).split())
        failure = explain(history.events, detail, status)
    return ReplayOutcome(
        workflow_id=history.workflow_id,
        run_id=run_id,
        workflow_type=started.workflow_type.name,
        reproduced=result.replay_failure is None,
        failure=failure,
        status=status,
        mandate=mandate,
        detail=detail,
    )
