"""Errors a user can cause and fix. Each carries a one-line message saying how."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = [
    "MandateError",
    "CharterError",
    "ToolRegistryError",
    "AgentNotFoundError",
    "AppLoadError",
    "ConnectionFailedError",
    "DecisionRefusedError",
    "NoWorkerAnsweredError",
    "AgentPausedError",
    "Refused",
    "HistoryFileError",
    "first_problem",
]


class MandateError(Exception):
    """Base of every error whose message is meant for the person at the terminal."""


class CharterError(MandateError):
    """Raised when a charter file cannot be read or fails validation.

    The message names the file, the field and the reason.
    """

    def __init__(self, path: str, field: str, reason: str) -> None:
        self.path = path
        self.field = field
        self.reason = reason
        super().__init__(f"{path}: {field}: {reason}")


class ToolRegistryError(MandateError):
    """Raised when a tool is declared twice or declared inconsistently."""


class AgentNotFoundError(MandateError):
    """Raised when a command names an agent that has no charter or no workflow."""


class AppLoadError(MandateError):
    """Raised when a package's agents cannot be loaded (an entry point or ``--app`` that fails to import)."""


class ConnectionFailedError(MandateError):
    """Raised when the Temporal server cannot be reached."""


class DecisionRefusedError(MandateError):
    """Raised when the workflow refuses an approval decision (unknown request, wrong approver, ...)."""


class NoWorkerAnsweredError(MandateError):
    """Raised when an update is not picked up by any worker within the timeout."""


class Refused(Exception):
    """Raised inside a run when a decision or a kill must not be applied.

    When: an approval names no pending request, comes from someone who may not decide it (or from the
    person who requested the run), a rejection has no reason, a kill is not from the stop/go owner, or a
    signal's input is malformed (not JSON, two inputs, a misspelt signal name). A signal cannot answer its
    sender, so the run records the refusal in its status; an update's validator turns it into an
    ``ApplicationError`` its sender sees, with nothing written to the history.

    The message says why on one line: control characters a sender chose are escaped, so a refusal can
    never forge a second line in ``mandate status``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(self._one_line(message))

    @staticmethod
    def _one_line(text: str, limit: int = 300) -> str:
        cleaned = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
        return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def first_problem(err: ValidationError, *, what: str = "input") -> str:
    """The first thing pydantic found wrong, as ``field: reason`` on one line."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or what
    return f"{where}: {first['msg']}"


class AgentPausedError(MandateError):
    """Raised when a start is refused because the agent is paused by a kill (by hand or by its monitor).

    The message names who paused it, why, and the stop/go owner who may ``mandate resume`` it.
    """


class KeysError(MandateError):
    """Raised when the keys file cannot be read or is malformed, or a key cannot be made or found.

    The message names the file and what is wrong with it.
    """


class StatementRefused(Refused):
    """Raised when a signed statement does not verify: unknown, revoked or expired key, a signature that
    does not match, an expired statement, or one made for another run, request, tool or arguments."""


class HistoryFileError(MandateError):
    """Raised when a file given to ``mandate replay --history`` cannot be read as a Temporal event history.

    The message names the file and what is wrong: missing, not JSON, no events, or a first event that is
    not the workflow's start.
    """
