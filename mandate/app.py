"""How agents reach Mandate: from the user's own package, never from inside Mandate.

A package offers its agents as a :class:`MandateApp`, found one of two ways, by every command that
serves, audits or replays agents (``mandate dev``, ``worker``, ``audit``, ``replay``, ``demo``):

- an entry point in the ``mandate.agents`` group of the package's ``pyproject.toml``::

      [project.entry-points."mandate.agents"]
      deploy-agent = "deploy_agent.app:app"

- or ``--app module[:attribute]`` (also ``MANDATE_APP``, comma-separated), as uvicorn and celery do;
  the current directory is importable for it, so a project need not be installed to be tried.

Importing the app's module registers its tools (``@tool`` runs at import). Mandate's own refund agent
is plugged in the same way, through the entry point in Mandate's own ``pyproject.toml``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mandate.errors import AppLoadError

__all__ = ["ENTRY_POINT_GROUP", "MandateApp", "load_apps", "workflows_by_type", "app_refs_from_env"]

ENTRY_POINT_GROUP = "mandate.agents"


@dataclass(frozen=True)
class MandateApp:
    """The agents one package gives Mandate.

    ``agents`` are ``GovernedAgent`` workflow classes; ``charters`` is the folder of charters the
    package ships, used when the operator points Mandate at no charters folder of their own.
    """

    agents: Sequence[type]
    charters: Path | None = None
    name: str = ""
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.charters, str):
            object.__setattr__(self, "charters", Path(self.charters))


def app_refs_from_env() -> list[str]:
    return [ref.strip() for ref in os.environ.get("MANDATE_APP", "").split(",") if ref.strip()]


def load_apps(refs: Iterable[str] = (), *, entry_points: bool = True) -> list[MandateApp]:
    """Every app the installed packages offer, plus those ``refs`` (``module[:attribute]``) name."""
    apps: list[MandateApp] = []
    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            where = f"entry point {ep.name!r} ({ep.value})"
            try:
                loaded = ep.load()
            except Exception as err:  # noqa: BLE001  (any import failure becomes one line naming it)
                raise AppLoadError(f"cannot load agents from {where}: {_why(err)}") from None
            apps.append(_as_app(loaded, ep.name, where))
    for ref in [*refs, *app_refs_from_env()]:
        apps.append(_import_ref(ref))
    return _unique(apps)


def workflows_by_type(apps: Iterable[MandateApp]) -> dict[str, type]:
    """Agent workflow classes by workflow type name (what a charter's ``workflow`` names)."""
    from temporalio import workflow

    found: dict[str, type] = {}
    for app in apps:
        for cls in app.agents:
            defn = workflow._Definition.from_class(cls)
            if defn is None or defn.name is None:
                raise AppLoadError(
                    f"{app.source}: {cls.__qualname__} is not a workflow; decorate it with @workflow.defn"
                )
            if found.get(defn.name, cls) is not cls:
                raise AppLoadError(f"{app.source}: two agents define workflow type {defn.name!r}")
            found[defn.name] = cls
    return found


def _import_ref(ref: str) -> MandateApp:
    module_name, _, attribute = ref.partition(":")
    where = f"--app {ref}"
    if not module_name:
        raise AppLoadError(f"{where}: name a module, as in --app my_agents or --app my_agents.app:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001
        raise AppLoadError(f"{where}: cannot import {module_name}: {_why(err)}") from None
    if attribute:
        if not hasattr(module, attribute):
            raise AppLoadError(f"{where}: module {module_name} has no attribute {attribute!r}")
        return _as_app(getattr(module, attribute), module_name, where)
    candidates = [v for v in vars(module).values() if isinstance(v, MandateApp)]
    if len(candidates) != 1:
        raise AppLoadError(
            f"{where}: module {module_name} defines {len(candidates)} MandateApp objects; "
            f"name one as {module_name}:attribute"
        )
    return _as_app(candidates[0], module_name, where)


def _as_app(value: Any, name: str, where: str) -> MandateApp:
    if not isinstance(value, MandateApp):
        raise AppLoadError(f"{where} is a {type(value).__name__}, not a mandate.MandateApp")
    return MandateApp(agents=list(value.agents), charters=value.charters, name=value.name or name, source=where)


def _unique(apps: list[MandateApp]) -> list[MandateApp]:
    seen: list[MandateApp] = []
    for app in apps:
        if not any(list(app.agents) == list(other.agents) for other in seen):
            seen.append(app)
    return seen


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
