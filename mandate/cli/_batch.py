"""The file `mandate approve --batch` / `mandate reject --batch` reads: what `mandate pending --json` writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mandate.errors import MandateError

__all__ = ["BatchItem", "BatchFileError", "read_batch"]


class BatchFileError(MandateError):
    """Raised when a batch file cannot be read or an entry lacks the run or the request it decides."""


@dataclass(frozen=True)
class BatchItem:
    workflow_id: str
    request_id: str


def read_batch(path: Path) -> list[BatchItem]:
    """Every (run, request) the file lists, in order, once each; the person decides exactly these."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatchFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BatchFileError(f"{path}: cannot be read: {err}") from None
    except json.JSONDecodeError as err:
        raise BatchFileError(f"{path}: not JSON: {err.msg} at line {err.lineno}") from None
    if not isinstance(data, list):
        raise BatchFileError(f"{path}: expected a JSON list of requests, as `mandate pending --json` writes")
    items: list[BatchItem] = []
    for n, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise BatchFileError(f"{path}: entry {n}: expected an object, not {type(entry).__name__}")
        found: dict[str, str] = {}
        for field, value in (("workflow_id", entry.get("workflow_id")), ("id", entry.get("id", entry.get("request_id")))):
            if not isinstance(value, str) or not value.strip():
                raise BatchFileError(f"{path}: entry {n}: {field} is missing or not a string")
            found[field] = value
        items.append(BatchItem(workflow_id=found["workflow_id"], request_id=found["id"]))
    unique = list(dict.fromkeys(items))
    if not unique:
        raise BatchFileError(f"{path}: lists no request")
    return unique
