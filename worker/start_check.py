"""The start of a run, checked by the worker before the run does anything: who asked, and may it run now.

A run from protocol 4 carries its requester's signed start statement; the worker verifies it with the
keys file it holds, against the run's own workflow id and namespace (from ``activity.info()``, not from
anything the starter wrote) and the hash of the run's input. It also asks the agent's monitor whether
the agent is paused: a run started while it is, by ``mandate start`` or by the stock ``temporal
workflow start``, ends at once, refused. The answer is recorded in the run's ``load_mandate`` marker.

No monitor is no "not paused": for an agent whose monitor this worker keeps (``start_monitors`` ran for it
on this task queue), a monitor that is missing or has ended refuses every start, and so, on any worker,
does a run at the monitor's id that is not a ``MandateMonitor`` on the worker's own task queue (someone
else's worker answering for it). Each refusal says what is wrong and how to fix it, and is logged at error
level as an alert (``monitor_missing``, ``monitor_ended``, ``monitor_impostor``). Only a genuine monitor's
answer is kept for ``PAUSE_TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog
from temporalio import activity
from temporalio.client import Client

from mandate.charter import Charter
from mandate.contract import MONITOR
from mandate.decisions import same_person
from mandate.errors import MandateError, StatementRefused
from mandate.keys import KeySet
from mandate.run import LoadMandateInput
from mandate.settings import load_settings
from mandate.statements import Act, verify_statement

__all__ = ["StartCheck", "keeps_monitor", "keys_for", "people_named"]

#: How long a worker trusts the monitor's last answer about a pause (every start asks otherwise).
PAUSE_TTL_SECONDS = 2.0

_log = structlog.get_logger("mandate.worker")

#: (namespace, task queue, agent) for every agent whose monitor this process keeps (``start_monitors``).
_KEPT: set[tuple[str, str, str]] = set()


def keeps_monitor(namespace: str, task_queue: str, agent: str) -> None:
    """This process keeps the agent's monitor on ``task_queue``: from now on, no monitor refuses its starts.

    A worker built without monitors (an embedded worker, a test's) still refuses a foreign one.
    """
    _KEPT.add((namespace, task_queue, agent))


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
    """Verifies a run's start and asks its agent's monitor about a pause (with a short cache).

    ``task_queue`` is the worker's own; by default the one the check runs on (``activity.info()``).
    """

    def __init__(self, client: Client | None, task_queue: str | None = None) -> None:
        self._client = client
        self._task_queue = task_queue
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

    def _queue(self) -> str:
        if self._task_queue:
            return self._task_queue
        try:
            return activity.info().task_queue
        except RuntimeError:  # not in an activity (a direct call): the settings' queue
            return load_settings().task_queue

    async def _pause(self, agent: str) -> str | None:
        if self._client is None:
            return None
        cached = self._paused.get(agent)
        if cached is not None and time.monotonic() - cached[0] < PAUSE_TTL_SECONDS:
            return cached[1]
        from mandate.api.fleet import MONITOR_IMPOSTOR, MonitorNotGuarding, monitor_notice

        queue = self._queue()
        try:
            notice = await asyncio.wait_for(monitor_notice(self._client, agent, task_queue=queue), timeout=10)
        except MonitorNotGuarding as problem:
            if problem.alert != MONITOR_IMPOSTOR and (self._client.namespace, queue, agent) not in _KEPT:
                return None  # this worker keeps no monitor for the agent, and none runs: nothing paused it
            _log.error(
                problem.alert, agent=agent, workflow_id=problem.workflow_id, task_queue=queue, problem=str(problem)
            )
            return str(problem)  # never cached: the next start asks again
        except (MandateError, TimeoutError) as err:
            return f"cannot tell whether {agent} is paused ({err or 'no answer'}); refused until the monitor answers"
        why = None
        if notice is not None and notice.paused:
            why = f"{agent} is paused (stopped by {notice.by or 'its monitor'}); only {notice.stop_go_owner} may `mandate resume` it"
        self._paused[agent] = (time.monotonic(), why)
        return why
