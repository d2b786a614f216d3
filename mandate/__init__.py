"""Mandate: AI agents as governed, durable Temporal workflows.

One import root for users::

    from mandate import GovernedAgent, tool, Authority, Charter, MandateApp

The names below are resolved on first use (PEP 562), so ``import mandate.charter`` or the CLI's
``import mandate`` loads only what it asks for: the shared core never imports the workflow layer
(``GovernedAgent``, the planner types) until someone names it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mandate.app import MandateApp
    from mandate.authority import Authority, Policy
    from mandate.charter import Charter, load_charter
    from mandate.model_calls import scripted_model
    from mandate.run import AgentResult, AgentRunInput, Step, StepStatus
    from mandate.tools import ToolRegistry, current_tool_context, tool
    from mandate.workflows.governed import GovernedAgent
    from mandate.workflows.model_planner import ModelPlanner
    from mandate.workflows.planner import ActivityPlanner, Finish, PlanContext, Planner, ToolProposal

# Each public name and the module it lives in.
_HOMES = {
    "GovernedAgent": "mandate.workflows.governed",
    "tool": "mandate.tools",
    "Authority": "mandate.authority",
    "Policy": "mandate.authority",
    "Planner": "mandate.workflows.planner",
    "PlanContext": "mandate.workflows.planner",
    "ToolProposal": "mandate.workflows.planner",
    "Finish": "mandate.workflows.planner",
    "ActivityPlanner": "mandate.workflows.planner",
    "ModelPlanner": "mandate.workflows.model_planner",
    "scripted_model": "mandate.model_calls",
    "MandateApp": "mandate.app",
    "AgentRunInput": "mandate.run",
    "AgentResult": "mandate.run",
    "Step": "mandate.run",
    "StepStatus": "mandate.run",
    "current_tool_context": "mandate.tools",
    "ToolRegistry": "mandate.tools",
    "Charter": "mandate.charter",
    "load_charter": "mandate.charter",
}

__all__ = [
    "GovernedAgent",
    "tool",
    "Authority",
    "Policy",
    "Planner",
    "PlanContext",
    "ToolProposal",
    "Finish",
    "ActivityPlanner",
    "ModelPlanner",
    "scripted_model",
    "MandateApp",
    "AgentRunInput",
    "AgentResult",
    "Step",
    "StepStatus",
    "current_tool_context",
    "ToolRegistry",
    "Charter",
    "load_charter",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:  # not ours: lets `from mandate import api` import the submodule
        raise AttributeError(f"module 'mandate' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
