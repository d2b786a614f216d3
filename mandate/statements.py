"""Signed statements: every act of authority (a decision, a kill, a resume, a start) as one JSON object.

A statement is Mandate's own flat JSON object, signed with Ed25519 (``cryptography``) over its canonical
JSON (sorted keys, no spaces, UTF-8) after a domain prefix, so it can be pasted into the Temporal Web
UI's signal input as it is. Verification is pure: no I/O and no clock (the caller passes ``now``), so
the workflow verifies with ``workflow.now()`` and a write tool's activity verifies again with its own
keys and its own context. docs/decisions.md says why this is not tenuo.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mandate.errors import StatementRefused, first_problem
from mandate.keys import KeySet

__all__ = [
    "Act",
    "Statement",
    "SignedStatement",
    "canonical_json",
    "sha256_of",
    "sign_statement",
    "parse_statement",
    "verify_statement",
    "MAX_STATEMENT_BYTES",
]

DOMAIN = b"mandate-statement-v1\x00"
MAX_STATEMENT_BYTES = 8192
#: How far in the future a statement's issue time may lie (clock skew between signer and server).
SKEW_SECONDS = 60
#: The longest a statement may be valid: a signed decision is not a standing grant.
MAX_LIFETIME_SECONDS = 7 * 24 * 3600

Text = Annotated[str, StringConstraints(max_length=200)]
Reason = Annotated[str, StringConstraints(max_length=2000)]


class Act(StrEnum):
    """What a statement authorises."""

    APPROVE = "approve"
    REJECT = "reject"
    KILL = "kill"
    RESUME = "resume"
    START = "start"


class Statement(BaseModel):
    """The signed content. Every field is covered by the signature; none may be added or left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    act: Act
    namespace: Text
    agent: Text
    workflow_id: Text = ""  # "" for a fleet-wide kill or a resume
    run_id: Text = ""  # "" for a start (the run has no id yet) and fleet acts
    request_id: Text = ""
    tool: Text = ""
    args_hash: Text = ""  # decisions: the request's arguments; a start: its input
    rollback: bool = False
    reason: Reason = ""
    signer: Text
    key_id: Text
    issued_at: int = Field(ge=0, lt=2**53)
    expires_at: int = Field(ge=0, lt=2**53)
    nonce: Annotated[str, StringConstraints(min_length=16, max_length=64)]


class SignedStatement(Statement):
    """A statement and its signature, as one flat JSON object (what ``mandate sign`` prints)."""

    signature: Annotated[str, StringConstraints(min_length=1, max_length=200)]

    def content(self) -> Statement:
        return Statement.model_validate(self.model_dump(exclude={"signature"}))

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


def _warm_invalid_signature() -> None:
    """Raise ``InvalidSignature`` once, here, at import, outside any workflow sandbox.

    cryptography's Rust core looks the exception class up by import the first time it raises it, and
    caches it. The first time inside Temporal's workflow sandbox, that import runs under the sandbox's
    module table and the lookup fails as a native panic that aborts the worker process, for good: the bad
    signature stays in the run's history, so every worker that picks the run up aborts again. One failed
    verification at import (well under a millisecond) makes the class known before any sandbox exists.
    """
    key = Ed25519PrivateKey.generate()
    try:
        key.public_key().verify(bytes(64), b"warm-up")
    except InvalidSignature:
        return


_warm_invalid_signature()


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes for the same value on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256_of(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON: a request's ``args_hash``, a start's input hash."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_statement(statement: Statement, private_key: Ed25519PrivateKey) -> SignedStatement:
    signature = private_key.sign(DOMAIN + canonical_json(statement.model_dump(mode="json")))
    return SignedStatement(**statement.model_dump(), signature=_b64(signature))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise StatementRefused(f"the statement names {key!r} twice")
        found[key] = value
    return found


def parse_statement(raw: Any) -> SignedStatement:
    """A signed statement from its JSON text or an already-decoded object; ``StatementRefused`` if malformed."""
    if isinstance(raw, bytes | str):
        if len(raw) > MAX_STATEMENT_BYTES:
            raise StatementRefused(f"the statement is over {MAX_STATEMENT_BYTES} bytes")
        try:
            raw = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        except ValueError as err:
            raise StatementRefused(f"the statement is not JSON: {err}") from None
    if not isinstance(raw, Mapping):
        raise StatementRefused("a signed statement is one JSON object")
    try:
        return SignedStatement.model_validate(dict(raw))
    except ValidationError as err:
        raise StatementRefused(f"not a signed statement: {first_problem(err)}") from None


def verify_statement(
    signed: SignedStatement,
    keys: KeySet,
    *,
    now: datetime,
    expect: Mapping[str, Any],
) -> Statement:
    """The statement, once its signature, key, validity and every ``expect``-ed field check out.

    ``expect`` names the fields the verifier knows from its own context (the run, the request, the
    tool, the arguments' hash, the act): a statement for anything else is refused, saying which field.
    """
    key = keys.find(signed.key_id)
    if key is None:
        raise StatementRefused(f"key {signed.key_id!r} is not in the keys file (or not among the keys this run was given)")
    if key.person_key != KeySet.person_key_of(signed.signer):
        raise StatementRefused(f"key {signed.key_id!r} belongs to {key.person}, not {signed.signer}")
    moment = int(now.timestamp())
    if key.revoked:
        raise StatementRefused(f"key {signed.key_id!r} of {key.person} is revoked")
    if key.expires_at is not None and moment >= int(key.expires_at.timestamp()):
        raise StatementRefused(f"key {signed.key_id!r} of {key.person} expired at {key.expires_at:%Y-%m-%d %H:%M} UTC")
    content = signed.content()
    try:
        key.public_key_object().verify(_unb64(signed.signature), DOMAIN + canonical_json(content.model_dump(mode="json")))
    except (InvalidSignature, ValueError):
        raise StatementRefused(f"the signature does not match the statement or key {signed.key_id!r}") from None
    if signed.issued_at - SKEW_SECONDS > moment:
        raise StatementRefused("the statement was issued in the future")
    if moment >= signed.expires_at:
        raise StatementRefused("the statement has expired")
    if signed.expires_at - signed.issued_at > MAX_LIFETIME_SECONDS:
        raise StatementRefused("the statement is valid for longer than 7 days")
    for field, wanted in expect.items():
        got = getattr(content, field)
        if got != wanted:
            raise StatementRefused(f"the statement is for {field} {_shown(got)}, not {_shown(wanted)}")
    return content


def _shown(value: Any) -> str:
    """A field's value in a message: an enum by its value (``'reject'``, never ``<Act.REJECT: 'reject'>``)."""
    return repr(value.value if isinstance(value, Enum) else value)
