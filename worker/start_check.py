"""The start of a run, checked by the worker before the run does anything: who asked, and may it run now.

A run from protocol 4 carries its requester's signed start statement; the worker verifies it with the
keys file it holds, against the run's own workflow id and namespace (from ``activity.info()``, not from
anything the starter wrote) and the hash of the run's input. It also asks the agent's monitor whether
the agent is paused: a run started while it is, by ``mandate start`` or by the stock ``temporal
workflow start``, ends at once, refused. The answer is recorded in the run's ``load_mandate`` marker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from temporalio.client import Client

from mandate.charter import Charter
from mandate.contract import MONITOR
from mandate.decisions import same_person
from mandate.errors import MandateError, StatementRefused
from mandate.keys import KeySet
from mandate.run import LoadMandateInput
from mandate.statements import Act, verify_statement

__all__ = ["StartCheck", "keys_for", "people_named"]

#: How long a worker trusts the monitor's last answer about a pause (every start asks otherwise).
PAUSE_TTL_SECONDS = 2.0


def people_named(charters: Iterable[Charter]) -> list[str]:
    """Everyone the charters name (owners, approvers, escalation groups), and the monitor."""
    people = [MONITOR]
    for charter in charters:
        people += [charter.owners.workflow, charter.owners.risk, charter.owners.quality, charter.owners.stop_go]
        for rule in charter.tools.values():
            people += [*rule.approvers, *rule.escalate_to]
    return list(dict.fromkeys(people))


def keys_for(charter: Charter, keys: KeySet, requester: str | None = None) -> KeySet:
    """The keys a run of this charter verifies with: its approvers', escalation group's, stop/go owner's,
    the requester's (so a self-approval is refused as one) and the monitor's service key. Only those go
    into the run's marker, which every run records."""
    people = {MONITOR, charter.owners.stop_go, *([requester] if requester else [])}
    for rule in charter.tools.values():
        people.update(rule.approvers)
        people.update(rule.escalate_to)
    chosen = [k for k in keys.keys if any(same_person(k.person, p) for p in people)]
    return KeySet(keys=chosen, digest=keys.digest)


class StartCheck:
    """Verifies a run's start and asks its agent's monitor about a pause (with a short cache)."""

    def __init__(self, client: Client | None) -> None:
        self._client = client
        self._paused: dict[str, tuple[float, str | None]] = {}

    async def refusal(
        self, request: LoadMandateInput, *, namespace: str, workflow_id: str, keys: KeySet
    ) -> str | None:
        """Why this run may not start, or None."""
        if request.start is None:
            return (
                "the start is not signed; `mandate start --requested-by NAME` signs it with NAME's key "
                "(a run started with `temporal workflow start` carries no proof of who asked)"
            )
        try:
            verify_statement(
                request.start,
                keys,
                now=datetime.now(UTC),
                expect={
                    "act": Act.START,
                    "namespace": namespace,
                    "agent": request.agent,
                    "workflow_id": workflow_id,
                    "args_hash": request.input_hash,
                },
            )
        except StatementRefused as refusal:
            return f"the signed start does not verify: {refusal}"
        if not same_person(request.start.signer, request.requested_by or ""):
            return f"the start is signed by {request.start.signer}, but names {request.requested_by} as requester"
        return await self._pause(request.agent)

    async def _pause(self, agent: str) -> str | None:
        if self._client is None:
            return None
        cached = self._paused.get(agent)
        if cached is not None and time.monotonic() - cached[0] < PAUSE_TTL_SECONDS:
            return cached[1]
        from mandate.api import pause_notice

        try:
            state = await asyncio.wait_for(pause_notice(self._client, agent), timeout=10)
        except (MandateError, TimeoutError) as err:
            return f"cannot tell whether {agent} is paused ({err or 'no answer'}); refused until the monitor answers"
        why = None
        if state is not None and state.paused:
            why = f"{agent} is paused (stopped by {state.by or 'its monitor'}); only {state.stop_go_owner} may `mandate resume` it"
        self._paused[agent] = (time.monotonic(), why)
        return why
