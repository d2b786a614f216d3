"""Re-verifying, for an incident review, every signed statement a run received.

The review does not take a run's word that a decision was signed: it verifies each statement again
with the keys the run's loaded mandate recorded (the keys in force when it started), at the moment the
statement was used, against the run it was used in. Each decision, kill and the start then reads
"signed by raj@example.com (key raj-2026-11), verified", "UNSIGNED: name as sent, not proven" or
"INVALID: <why>".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mandate.errors import StatementRefused
from mandate.keys import KeySet
from mandate.statements import SignedStatement, parse_statement, verify_statement

__all__ = ["proof_of", "start_proof"]


def proof_of(
    statement: SignedStatement | None,
    keys: KeySet | None,
    *,
    at: datetime,
    expect: Mapping[str, Any],
    protocol: int,
) -> str:
    """One line saying whether ``statement`` proves what it was used for."""
    if statement is None:
        if protocol < 4:
            return f"UNSIGNED: recorded before signed authority (protocol {protocol}); name as sent, not proven"
        return "UNSIGNED: name as sent, not proven"
    if keys is None:
        return "INVALID: the run recorded no keys to verify with"
    try:
        verify_statement(statement, keys, now=at, expect=expect)
    except StatementRefused as refusal:
        return f"INVALID: {refusal}"
    return f"signed by {statement.signer} (key {statement.key_id}), verified"


def start_proof(start_input: Mapping[str, Any], keys: KeySet | None, *, at: datetime, expect: Mapping[str, Any], protocol: int) -> str:
    """The start's proof, from the workflow's recorded input (``AgentRunInput.start``)."""
    raw = start_input.get("start")
    if raw is None:
        return proof_of(None, keys, at=at, expect=expect, protocol=protocol)
    try:
        statement = parse_statement(raw)
    except StatementRefused as refusal:
        return f"INVALID: {refusal}"
    return proof_of(statement, keys, at=at, expect=expect, protocol=protocol)
