"""Using an approval once: a write records its statement's nonce in its own transaction.

``mandate.worker.tool_guard`` verifies the approval before the tool runs; the tool then calls
``claim_nonce`` inside the transaction that makes the write, so the same statement can never approve
another write, and a retry of the same call (same run, same request) passes.
"""

from __future__ import annotations

import sqlite3

from temporalio.exceptions import ApplicationError

from mandate.tools import current_approval

__all__ = ["claim_nonce"]

NONCES_TABLE = """CREATE TABLE IF NOT EXISTS mandate_nonces (
    key_id TEXT NOT NULL, nonce TEXT NOT NULL, workflow_id TEXT NOT NULL, run_id TEXT NOT NULL,
    request_id TEXT NOT NULL, PRIMARY KEY (key_id, nonce))"""


def claim_nonce(db: sqlite3.Connection) -> None:
    """Use the current call's approval once, inside the tool's own write transaction.

    Call it in the transaction that makes the write: the statement's nonce is recorded with the run and
    request it approved, so the same statement can never approve another write; a retry of this very
    call (same run, same request) passes. A call that runs on no statement records nothing.
    """
    approval = current_approval()
    if approval is None:  # no statement (or not in a tool at all): nothing to use up
        return
    db.execute(NONCES_TABLE)
    seen = db.execute(
        "SELECT workflow_id, run_id, request_id FROM mandate_nonces WHERE key_id = ? AND nonce = ?",
        (approval.key_id, approval.nonce),
    ).fetchone()
    here = (approval.workflow_id, approval.run_id, approval.request_id)
    if seen is None:
        db.execute("INSERT INTO mandate_nonces VALUES (?, ?, ?, ?, ?)", (approval.key_id, approval.nonce, *here))
    elif tuple(seen) != here:
        raise ApplicationError(
            f"the statement signed by {approval.signer} (nonce {approval.nonce[:8]}…) was already used for "
            f"{seen[0]} {seen[2]}; a statement approves one write once",
            type="ToolRefused",
            non_retryable=True,
        )
