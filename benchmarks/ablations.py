"""Profiling variants of the benchmark agent (``run.py --profile``): each removes one cost of governance.

They are measurement aids, not proposals as written: each shows what one mechanism costs a run, so
that a change to ``workflows/governed.py`` or ``worker/build.py`` can be judged by a number. Each
variant's workflow class has a module of its own under ``benchmarks/variants/`` (the sandbox runs a
workflow's module again for every run, so classes sharing a module would tax each other's runs).

- ``no-upserts``: ``_publish`` writes no search attributes (the run keeps the five it was started
  with): no UpsertWorkflowSearchAttributes events, no visibility updates during the run.
- ``no-timer``: the approval waits without ``approval_timeout``: no timer started and cancelled.
- ``input-mandate``: the charter and tool catalogue come in the workflow input instead of the
  ``mandate.load_mandate`` local activity (no marker, no local-activity round trip): it overrides
  ``GovernedAgent._load_mandate``.
- ``lean``: the three above at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mandate.charter import Charter
    from mandate.decisions import ApprovalRequest, RequestStatus
    from mandate.run import AgentMandate

__all__ = [
    "NoUpserts",
    "NoTimer",
    "InputMandate",
    "VARIANTS",
    "MANDATE_KEY",
    "variant_class",
    "variant_charters",
    "variant_workflows",
    "mandate_for",
]

MANDATE_KEY = "_mandate"

#: side name -> (module under benchmarks.variants, class name, mandate in the input)
VARIANTS: dict[str, tuple[str, str, bool]] = {
    "no-upserts": ("no_upserts", "BenchNoUpserts", False),
    "no-timer": ("no_timer", "BenchNoTimer", False),
    "input-mandate": ("input_mandate", "BenchInputMandate", True),
    "lean": ("lean", "BenchLean", True),
}


class NoUpserts:
    def _publish(self) -> None:
        return None


class NoTimer:
    async def _wait_for_decision(self, request: ApprovalRequest, timeout: timedelta) -> bool:
        await workflow.wait_condition(lambda: request.status is not RequestStatus.PENDING)
        return True


class InputMandate:
    async def _load_mandate(self) -> AgentMandate:  # the charter from the input, not a local activity
        return AgentMandate.model_validate(self._input.input.pop(MANDATE_KEY))


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


def variant_workflows() -> dict[str, type]:
    """The variants, served by the benchmark's governed worker beside the benchmark agent."""
    return {variant_class(side).__temporal_workflow_definition.name: variant_class(side) for side in VARIANTS}


def mandate_for(agent: str, charters: Mapping[str, Charter]) -> dict[str, Any]:
    """What ``mandate.load_mandate`` returns for ``agent``, as input JSON."""
    from mandate.tools import registry
    from mandate.worker.build import mandate_of

    return mandate_of(charters[agent], registry).model_dump(mode="json")
