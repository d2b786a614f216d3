"""Signing acts of authority as a person, with the private key this machine holds for them.

``mandate approve/reject/kill/resume/start/sign --as NAME`` sign with NAME's key (``mandate keys new
--as NAME`` makes one); with no key for NAME the command stops in one line. What each statement binds
is in ``mandate.statements``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from mandate.errors import KeysError
from mandate.keys import LocalKey, ensure_demo_keys, load_keys, local_keys
from mandate.statements import Act, SignedStatement, Statement, sha256_of, sign_statement

__all__ = ["Signer", "DECISION_LIFETIME", "START_LIFETIME", "FLEET_LIFETIME"]

#: How long a signed decision may wait to be used: a pasted UI signal, a write retried after a crash.
DECISION_LIFETIME = 24 * 3600
#: A signed start is used at once, by the run's first task.
START_LIFETIME = 15 * 60
#: A kill or resume is applied at once (the monitor signs each run's own kill as it sends it): its
#: statement is valid only long enough to reach the monitor, so a copy is soon worth nothing.
FLEET_LIFETIME = 10 * 60


@dataclass(frozen=True)
class Signer:
    """One person's signing key on this machine."""

    person: str
    key: LocalKey

    @classmethod
    def of(cls, person: str, *, key_id: str | None = None) -> Signer:
        """The newest key this machine holds for ``person`` that the keys file lists and has not withdrawn."""
        person = person.strip()
        if load_keys().demo:  # `mandate dev` / `mandate demo` on this machine: anyone gets a demo key
            ensure_demo_keys([person])
        held = local_keys(person)
        if key_id is not None:
            held = [k for k in held if k.key_id == key_id]
        if not held:
            raise KeysError(  # the cause first, then the one command that fixes it
                f"no signing key for {person} on this machine; run `mandate keys new --as {person}`, "
                "then the risk owner adds the entry it prints"
            )
        listed = load_keys()
        for key in held:
            entry = listed.find(key.key_id)
            if entry is not None and not entry.revoked and entry.person_key == listed.person_key_of(person):
                return cls(person=person, key=key)
        raise KeysError(
            f"{person}'s key {held[0].key_id} is not in the keys file in use (or is revoked); "
            "its public entry must be added by the risk owner"
        )

    def _sign(self, lifetime: int, **fields: Any) -> SignedStatement:
        now = int(time.time())
        statement = Statement(
            signer=self.person,
            key_id=self.key.key_id,
            issued_at=now,
            expires_at=now + lifetime,
            nonce=secrets.token_urlsafe(16),
            **fields,
        )
        return sign_statement(statement, self.key.private_key)

    def decision(
        self,
        *,
        approve: bool,
        namespace: str,
        agent: str,
        workflow_id: str,
        run_id: str,
        request_id: str,
        tool: str,
        args_hash: str,
        reason: str,
        lifetime: int = DECISION_LIFETIME,
    ) -> SignedStatement:
        return self._sign(
            lifetime,
            act=Act.APPROVE if approve else Act.REJECT,
            namespace=namespace,
            agent=agent,
            workflow_id=workflow_id,
            run_id=run_id,
            request_id=request_id,
            tool=tool,
            args_hash=args_hash,
            reason=reason,
        )

    def start(self, *, namespace: str, agent: str, workflow_id: str, input: dict[str, Any]) -> SignedStatement:
        return self._sign(
            START_LIFETIME,
            act=Act.START,
            namespace=namespace,
            agent=agent,
            workflow_id=workflow_id,
            args_hash=sha256_of(input),
        )

    def kill(
        self, *, namespace: str, agent: str, workflow_id: str = "", run_id: str = "", rollback: bool, reason: str
    ) -> SignedStatement:
        return self._sign(
            FLEET_LIFETIME,
            act=Act.KILL,
            namespace=namespace,
            agent=agent,
            workflow_id=workflow_id,
            run_id=run_id,
            rollback=rollback,
            reason=reason,
        )

    def resume(self, *, namespace: str, agent: str, reason: str) -> SignedStatement:
        return self._sign(FLEET_LIFETIME, act=Act.RESUME, namespace=namespace, agent=agent, reason=reason)
