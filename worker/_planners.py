"""What a worker adds for its agents' planners: the model step for model-backed agents, each planner's own
activities, and the tool catalogue a model reads.

A served charter with a ``[model]`` section makes the worker register ``mandate.model_step``; a planner
that lists ``activities`` (``ActivityPlanner`` given its activity, or an adapter of your own) has them
registered with its agent. The catalogue's argument schemas are filled only for model-backed agents, so
the ``load_mandate`` marker of every other agent stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from temporalio import activity, workflow

from mandate.charter import Charter
from mandate.model_calls import with_model_override
from mandate.run import ToolInfo
from mandate.tools import ToolRegistry, ToolSpec

__all__ = ["planner_activities", "tool_info", "effective_charter"]


def effective_charter(charter: Charter) -> Charter:
    """The charter a run gets: its model replaced by ``MANDATE_MODEL_<AGENT>`` / ``MANDATE_MODEL`` when set."""
    return with_model_override(charter)


def tool_info(spec: ToolSpec, charter: Charter) -> ToolInfo:
    """A tool as a run of ``charter``'s agent knows it; with its argument schema when a model reads it."""
    info = spec.info()
    if charter.model is not None:
        info = info.model_copy(update={"args_schema": spec.args_model.model_json_schema()})
    return info


def planner_activities(
    workflows: Iterable[type], charters: Mapping[str, Charter], tools: ToolRegistry, callers: Any = None
) -> list[Callable[..., Any]]:
    """The activities the served agents' planners need, each once."""
    found: dict[str, Callable[..., Any]] = {}
    workflows = list(workflows)
    modelled = {  # workflow type -> agent, for the agents whose charter has a [model]
        workflow._Definition.must_from_class(cls).name or "": cls.agent  # type: ignore[attr-defined]
        for cls in workflows
        if getattr(charters.get(getattr(cls, "agent", "")), "model", None) is not None
    }
    if modelled:
        from mandate.activities.model_step import ModelActivities

        step = ModelActivities(tools, modelled, callers=callers).model_step
        found[activity._Definition.must_from_callable(step).name or ""] = step
    for cls in workflows:
        for fn in getattr(getattr(cls, "planner", None), "activities", ()) or ():
            name = activity._Definition.must_from_callable(fn).name or ""
            found.setdefault(name, fn)
    return list(found.values())
