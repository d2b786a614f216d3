"""Reading histories: the Temporal UI's "Download Event History" and `temporal workflow show -o json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory

from mandate.errors import HistoryFileError

__all__ = ["HistoryFileError", "load_history_file"]  # HistoryFileError lives in mandate.errors


def load_history_file(path: str | Path) -> WorkflowHistory:
    """A history from a JSON file: ``{"events": [...]}`` (UI download, CLI ``-o json``) or a bare event list."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HistoryFileError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HistoryFileError(f"{path}: not JSON ({str(err).splitlines()[0]})") from None
    if isinstance(data, list):
        data = {"events": data}
    named = data.get("workflowId") if isinstance(data, dict) else None
    if isinstance(data, dict) and "history" in data and "events" not in data:
        data = data["history"]  # some exports wrap the history
    if not isinstance(data, dict) or not isinstance(data.get("events"), list) or not data["events"]:
        raise HistoryFileError(f"{path}: no events; expected a Temporal event history in JSON")
    first = data["events"][0]
    attrs = first.get("workflowExecutionStartedEventAttributes") if isinstance(first, dict) else None
    if not attrs:
        raise HistoryFileError(
            f"{path}: the first event is not the workflow's start; is the history complete?"
        )
    # The run's own id (the start records it; else the export names it): a file named h.json is not run "h",
    # and the decisions signed for the run verify only against its id.
    workflow_id = next((str(i) for i in (attrs.get("workflowId"), named) if isinstance(i, str) and i), path.stem)
    try:
        return WorkflowHistory.from_json(workflow_id, data)
    except Exception as err:  # noqa: BLE001  (protobuf's parse errors have no common base worth naming)
        raise HistoryFileError(
            f"{path}: not a Temporal event history ({str(err).splitlines()[0][:200]})"
        ) from None
