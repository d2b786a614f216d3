"""Profiling variants of the benchmark agent (``run.py --profile``): each removes one cost of governance.

They are measurement aids, not proposals as written: each shows what one mechanism costs a run, so
that a change to ``workflows/governed.py`` or ``worker/build.py`` can be judged by a number. Each
variant's workflow class has a module of its own under ``benchmarks/variants/`` (the sandbox runs a
workflow's module again for every run, so classes sharing a module would tax each other's runs).

- ``no-upserts``: ``_publish`` writes no search attributes (the run keeps the five it was started
  with): no UpsertWorkflowSearchAttributes events, no visibility updates during the run.
- ``no-timer``: the approval waits without ``approval_timeout``: no timer started and cancelled.
- ``input-mandate``: the charter and tool catalogue come in the workflow input instead of the
  ``mandate.load_mandate`` local activity (no marker, no local-activity round trip). ``govern`` is
  copied from ``GovernedAgent.govern`` with only that line changed.
- ``lean``: the three above at once.
- ``passthrough``: the benchmark agent unchanged, on a worker whose workflow sandbox passes the
  project's packages through (``SandboxRestrictions.with_passthrough_modules``), so no module is
  re-run per workflow run. ``build_worker`` takes no runner, so this worker is assembled here the
  way ``build_worker`` assembles its own.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from mandate.charter import Charter
    from mandate.decisions import ApprovalRequest, Channel, KillRecord, RequestStatus
    from mandate.run import AgentMandate, AgentResult, AgentRunInput, RunState

__all__ = [
    "NoUpserts",
    "NoTimer",
    "InputMandate",
    "VARIANTS",
    "PASSTHROUGH",
    "MANDATE_KEY",
    "variant_class",
    "variant_charters",
    "variant_workflows",
    "mandate_for",
    "passthrough_worker",
]

MANDATE_KEY = "_mandate"

#: side name -> (module under benchmarks.variants, class name, mandate in the input)
VARIANTS: dict[str, tuple[str, str, bool]] = {
    "no-upserts": ("no_upserts", "BenchNoUpserts", False),
    "no-timer": ("no_timer", "BenchNoTimer", False),
    "input-mandate": ("input_mandate", "BenchInputMandate", True),
    "lean": ("lean", "BenchLean", True),
    "passthrough": ("passthrough", "BenchPassthrough", False),
}
PASSTHROUGH = "passthrough"
PASSTHROUGH_MODULES = ("benchmarks", "workflows", "mandate", "approvals", "activities")


class NoUpserts:
    def _publish(self) -> None:
        return None


class NoTimer:
    async def _wait_for_decision(self, request: ApprovalRequest, timeout: timedelta) -> bool:
        await workflow.wait_condition(lambda: request.status is not RequestStatus.PENDING)
        return True


class InputMandate:
    async def govern(self, run_input: AgentRunInput) -> AgentResult:  # copy of GovernedAgent.govern
        self._mandate = AgentMandate.model_validate(run_input.input.pop(MANDATE_KEY))  # the only change
        self._set_state(RunState.RUNNING)
        self._log("run_started", requested_by=run_input.requested_by)
        try:
            finish = await self._plan_and_act(run_input)
        except asyncio.CancelledError:
            self._stop_by_kill(
                KillRecord(
                    at=workflow.now(), by="temporal", reason="workflow cancelled", rollback=False,
                    channel=Channel.CANCEL,
                )
            )
            self._set_state(RunState.KILLED)
            raise
        if self._kill is not None:
            return await self._end_killed()
        self._outcome, self._summary = finish.outcome, finish.summary
        self._set_state(RunState.FAILED if finish.failed else RunState.COMPLETED)
        self._log("run_finished", outcome=finish.outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if finish.failed:
            raise ApplicationError(f"{self.agent} ended as {finish.outcome}: {finish.summary}", type="AgentRunFailed")
        return self._result()


def variant_class(side: str) -> type:
    module, name, _ = VARIANTS[side]
    return getattr(importlib.import_module(f"benchmarks.variants.{module}"), name)


def variant_charters() -> dict[str, Charter]:
    from benchmarks.bench_agents import BENCH_AGENT, _charter, bench_charters

    kill_criteria = bench_charters()[BENCH_AGENT].model_dump(mode="json")["kill_criteria"]
    out = {}
    for side in VARIANTS:
        cls = variant_class(side)
        out[cls.agent] = _charter(cls.agent, cls.__temporal_workflow_definition.name, kill_criteria)
    return out


def variant_workflows(*, passthrough: bool) -> dict[str, type]:
    """The variants ``build_worker`` serves (``passthrough=False``) or the passthrough worker serves."""
    return {
        variant_class(side).__temporal_workflow_definition.name: variant_class(side)
        for side in VARIANTS
        if (side == PASSTHROUGH) == passthrough
    }


def mandate_for(agent: str, charters: Mapping[str, Charter]) -> dict[str, Any]:
    """What ``mandate.load_mandate`` returns for ``agent`` (the same logic as worker.build), as input JSON."""
    from mandate.tools import registry

    charter = charters[agent]
    infos = {}
    for name in charter.tools:
        spec = registry.get(name)
        if spec is not None:
            infos[name] = spec.info()
            if spec.compensation and (comp := registry.get(spec.compensation)):
                infos[comp.name] = comp.info()
    return AgentMandate(charter=charter, tools=infos).model_dump(mode="json")


def passthrough_worker(client: Any, task_queue: str, charters: Mapping[str, Charter]) -> Any:
    """A worker for the ``passthrough`` variant: build_worker's tools and load_mandate, a passthrough sandbox."""
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from mandate.tools import registry
    from worker.build import MandateActivities

    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(variant_workflows(passthrough=True).values()),
        activities=[*registry.activities(), MandateActivities(charters, registry).load_mandate],
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
        max_concurrent_activities=100,
    )
