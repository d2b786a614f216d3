"""The `mandate` Typer app: its callback, the options commands share, and how a command fails or runs.

The commands live in modules of one job each (``serve``, ``runs``, ``decide``, ``fleet``, ``review``,
``init``), registered on ``app`` when ``mandate.cli`` is imported. Every command exits 0 on success
and 1 with one ``error: ...`` line on failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError
from typer.core import TyperGroup

from mandate.cli._safe import safe_text
from mandate.errors import MandateError, first_problem
from mandate.logging import configure_logging

__all__ = [
    "app",
    "fail",
    "error_line",
    "run",
    "client",
    "ChartersOpt",
    "JsonOpt",
    "AllowUnreadyOpt",
    "AppOpt",
    "AddressOpt",
]

T = TypeVar("T")

#: The order `mandate --help` lists the commands in: serve, run, decide, stop, review, scaffold.
COMMANDS = (
    "dev", "worker", "setup", "start", "status", "pending", "approve", "reject",
    "kill", "resume", "metrics", "audit", "replay", "demo", "init",
)  # fmt: skip


class _Listed(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        known = super().list_commands(ctx)
        return sorted(known, key=lambda n: COMMANDS.index(n) if n in COMMANDS else len(COMMANDS))


app = typer.Typer(
    cls=_Listed,
    name="mandate",
    help="Governed AI-agent workflows on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: flags show as flags (not `--json <bool>`), and `[default: ...]` in a help text is
    # printed, not taken for rich markup.
    rich_markup_mode=None,
)

ChartersOpt = Annotated[
    Path | None,
    typer.Option(
        "--charters",
        metavar="DIR",
        help="charters directory [default: $MANDATE_CHARTERS, else ./charters, else the apps' own]"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
AllowUnreadyOpt = Annotated[
    bool,
    typer.Option("--allow-unready", help="serve agents whose charter fails the readiness audit (says so)"),
]
AppOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        metavar="MODULE[:ATTR]",
        help="module[:attribute] of a MandateApp to load besides the installed packages' "
        "(repeatable; $MANDATE_APP)",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", metavar="HOST:PORT", help="Temporal address [default: $TEMPORAL_ADDRESS or localhost:7233]"),
]


def error_line(message: str) -> None:
    """One ``error: ...`` line on stderr; what a sender chose in it (a name, a server's echo) cannot act
    on the terminal nor start a second line."""
    typer.echo(f"error: {safe_text(message)}", err=True)


def fail(message: str) -> NoReturn:
    """One ``error: ...`` line on stderr, exit 1."""
    error_line(message)
    raise typer.Exit(1)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine; user-facing failures become one line on stderr and exit 1."""
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except MandateError as err:
        fail(str(err))
    except RPCError as err:
        fail(f"Temporal refused the request: {err.message or err}")
    except ValidationError as err:  # an argument outside the limits of the models it fills
        fail(first_problem(err))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def client(address: str | None) -> Client:
    """A client that tells Temporal who sends (the incident report shows it beside every decision)."""
    from mandate.client import connect

    return await connect(address, identity=_identity())


def _identity() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001  (no user name in some containers)
        user = "unknown"
    return f"mandate-cli:{user}@{socket.gethostname()}"


@app.callback()
def _main(
    log_format: Annotated[str, typer.Option("--log-format", help="console or json")] = "console",
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")] = "WARNING",
) -> None:
    if log_format not in ("console", "json"):
        fail("--log-format must be console or json")
    configure_logging(log_format, log_level)
