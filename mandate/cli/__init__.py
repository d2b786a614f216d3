"""The `mandate` command line: the Typer app (``cli.app``) and its commands, one module per job."""

import os
import sys

import typer

from mandate.cli import decide, fleet, init, keys, review, runs, serve  # noqa: F401  (register the commands)
from mandate.cli._safe import safe_text
from mandate.cli.app import app

__all__ = ["app", "main"]


def _click_exception() -> type[Exception]:
    """The base of Click's usage errors, wherever this Typer keeps Click (vendored or not)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter  # pragma: no cover


def _usage_error(err: Exception) -> int:
    """A usage error (a missing option, an unknown command) as one ``error:`` line; help stays help."""
    ctx = getattr(err, "ctx", None)
    if type(err).__name__ == "NoArgsIsHelpError" and ctx is not None:
        print(ctx.get_help())
        return 0
    message = err.format_message() if hasattr(err, "format_message") else str(err)
    message = safe_text(" ".join(message.split()).rstrip("."))
    message = message[:1].lower() + message[1:]
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    print(f"error: {message}{where}", file=sys.stderr)
    return 1


def main() -> None:
    """Run the CLI, then leave at once with its exit code.

    Usage errors are one ``error: ...`` line and exit 1, like every other failure (Click's default is a
    usage box and exit 2). The SDK's native client keeps threads that may call into Python while the
    interpreter finalizes, which can abort a command that has already done its work
    (sdk-python#300). Every command has flushed its output and closed its servers by the time it
    returns, so skipping finalization loses nothing.
    """
    code = 0
    try:
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except _click_exception() as err:
        code = _usage_error(err)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        code = 1
    except SystemExit as exit_:
        if isinstance(exit_.code, int):
            code = exit_.code
        elif exit_.code is not None:
            print(safe_text(exit_.code), file=sys.stderr)
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
