"""Which agents a command serves, audits or replays: ``discover`` (``mandate.worker.agents``), asked once.

``mandate dev``, ``worker``, ``audit``, ``replay``, ``start``, ``metrics`` and ``demo`` find agents
the same way: the installed packages' ``mandate.agents`` entry points, then ``--app`` (repeatable) and
``$MANDATE_APP``. The readiness audit is imported here and nowhere else in the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mandate.charter import Charter
from mandate.cli._safe import safe_text
from mandate.cli.app import fail
from mandate.errors import MandateError
from mandate.worker.audit import AgentAudit, audit_directory
from mandate.worker.audit import render_audit as _render_audit

if TYPE_CHECKING:
    from mandate.worker.agents import AgentCatalogue

__all__ = ["catalogue", "charters_of", "serving", "audits", "render_audit"]


def catalogue(apps: list[str] | None, directory: Path | None) -> AgentCatalogue:
    """The agents the installed packages and ``--app`` offer, and where their charters are."""
    from mandate.worker.agents import discover

    try:
        return discover(apps or (), directory)
    except MandateError as err:
        fail(str(err))


def charters_of(found: AgentCatalogue) -> dict[str, Charter]:
    """Every charter in the catalogue's folders, validated against the registered tools."""
    try:
        return found.charters()
    except MandateError as err:
        fail(str(err))


def audits(found: AgentCatalogue) -> list[AgentAudit]:
    """The readiness audit of every charter in the catalogue's folders."""
    from mandate.tools import registry

    try:
        return [
            a
            for folder in found.folders
            for a in audit_directory(folder, tools=registry, workflows=found.workflows)
        ]
    except MandateError as err:
        fail(str(err))


def render_audit(audit: AgentAudit) -> list[str]:
    """The audit of one agent as `mandate audit` prints it: every line within the terminal's width (80
    in a pipe), as `status`, `pending` and `metrics` are."""
    from mandate.cli._render import console

    return _render_audit(audit, width=console.width)


def serving(
    apps: list[str] | None, directory: Path | None, allow_unready: bool
) -> tuple[AgentCatalogue, dict[str, Charter]]:
    """What a worker may serve: every charter must pass the readiness audit unless ``--allow-unready``."""
    found = catalogue(apps, directory)
    for audit in (a for a in audits(found) if not a.ready):
        failed = next(c for c in audit.checks if not c.ok)
        detail = failed.detail if audit.path in failed.detail else f"{audit.path}: {failed.detail}"
        message = f"{audit.agent} is not ready for production ({failed.question}: {detail})"
        if not allow_unready:
            fail(f"{message}; run `mandate audit`, fix the charter, or start with --allow-unready")
        typer.echo(f"warning: serving {safe_text(message)} because of --allow-unready", err=True)
    return found, charters_of(found)
