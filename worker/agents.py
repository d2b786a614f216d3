"""Which agents this process knows: the apps the installed packages offer, their workflows and charters.

Every command that serves, audits or replays agents asks here, so ``mandate dev``, ``worker``,
``audit``, ``replay`` and ``demo`` find the same agents the same way (``mandate.app``).
Charters come from the operator's folder when there is one (``--charters``, ``MANDATE_CHARTERS``, or
``./charters``), and otherwise from the folders the apps ship.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mandate.app import MandateApp, load_apps, workflows_by_type
from mandate.charter import Charter, load_charters
from mandate.errors import CharterError
from mandate.settings import load_settings
from mandate.tools import ToolRegistry, registry
from mandate.workflows.governed import GovernedAgent
from mandate.workflows.monitor import KillMonitor

__all__ = ["AgentCatalogue", "discover", "charter_folders", "replayable_workflows"]


@dataclass
class AgentCatalogue:
    """What the installed packages and ``--app`` give: workflows by type, and the charters found."""

    apps: list[MandateApp]
    workflows: dict[str, type[GovernedAgent]]
    folders: list[Path] = field(default_factory=list)

    def charters(self, tools: ToolRegistry = registry) -> dict[str, Charter]:
        """Every charter in the folders, validated against the registered tools."""
        found: dict[str, Charter] = {}
        origin: dict[str, Path] = {}
        for folder in self.folders:
            for name, charter in load_charters(folder, tools).items():
                if name in found:
                    raise CharterError(
                        str(folder / f"{name}.toml"), "name", f"{name!r} is also chartered in {origin[name]}"
                    )
                found[name], origin[name] = charter, folder
        return found


def discover(app_refs: Iterable[str] = (), charters: Path | None = None) -> AgentCatalogue:
    """Load every app (entry points, then ``app_refs``) and say where the charters are."""
    apps = load_apps(app_refs)
    return AgentCatalogue(apps=apps, workflows=workflows_by_type(apps), folders=charter_folders(charters, apps))  # type: ignore[arg-type]


def charter_folders(explicit: Path | None, apps: Iterable[MandateApp]) -> list[Path]:
    """The operator's folder if any, else what the apps ship (so a wheel-only install runs the demo)."""
    chosen = explicit or load_settings().charters_dir
    if chosen is not None:
        return [Path(chosen)]
    local = Path("charters")
    if local.is_dir():
        return [local]
    return [Path(app.charters) for app in apps if app.charters is not None and Path(app.charters).is_dir()]


def replayable_workflows(workflows: Mapping[str, type]) -> list[type]:
    """What a replay needs: every agent workflow, and the kill-criteria monitor."""
    return [*workflows.values(), KillMonitor]
