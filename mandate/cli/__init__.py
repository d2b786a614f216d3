"""The `mandate` command line."""

from mandate.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
