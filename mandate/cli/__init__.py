"""The `mandate` command line."""

import os
import sys

from mandate.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI, then leave at once with its exit code.

    The SDK's native client keeps threads that may call into Python while the
    interpreter finalizes, which can abort a command that has already done its work
    (sdk-python#300). Every command has flushed its output and closed its servers by
    the time it returns, so skipping finalization loses nothing.
    """
    code = 0
    try:
        app()
    except SystemExit as exit_:
        if isinstance(exit_.code, int):
            code = exit_.code
        elif exit_.code is not None:
            print(exit_.code, file=sys.stderr)
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
