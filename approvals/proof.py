"""Proof of authority inside a run: is this decision or kill signed by someone entitled to it, for this run?

A run from protocol 4 holds a ``Proof``: the run's identity (namespace, workflow id, run id, agent), the
public keys its loaded mandate carries, and its charter. A decision's statement must be signed by a key
of the keys file, be valid now, and name exactly this run, the request, its tool, its arguments' hash
and the act; then the signer is the approver the gate checks. A tool whose charter says
``accept_unsigned = true`` (by default: read tools) also takes a decision by plain name, recorded as
unsigned. A kill must be signed by the stop/go owner or by the monitor's service key.

Pure: ``now`` is passed in (``workflow.now()``), nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mandate.authority import Authority
from mandate.charter import Charter
from mandate.contract import MONITOR
from mandate.decisions import ApprovalRequest, DecisionInput, DecisionKind, KillInput, same_person
from mandate.errors import Refused, StatementRefused
from mandate.keys import KeySet
from mandate.statements import Act, SignedStatement, Statement, verify_statement

__all__ = ["RunIdentity", "Proof", "Proven", "signature_required", "verify_fleet_order"]


@dataclass(frozen=True)
class RunIdentity:
    namespace: str
    workflow_id: str
    run_id: str
    agent: str


@dataclass(frozen=True)
class Proven:
    """Who a decision or kill is from, and whether a verified signature says so."""

    who: str
    reason: str
    statement: SignedStatement | None
    verified: bool


def signature_required(charter: Charter, request: ApprovalRequest) -> bool:
    """Write tools need signed decisions unless their charter accepts unsigned ones; reads do not."""
    rule = charter.tools.get(request.tool)
    accept = rule.accept_unsigned if rule is not None else None
    if accept is None:
        return request.authority is Authority.WRITE
    return not accept


class Proof:
    """Verifies the statements a run receives against the run itself."""

    def __init__(self, run: RunIdentity, keys: KeySet, charter: Charter) -> None:
        self.run = run
        self.keys = keys
        self.charter = charter

    def request_named(self, payload: DecisionInput) -> str | None:
        """The request a decision names: its statement's, or the plain ``request_id``."""
        if payload.statement is not None:
            return payload.statement.request_id or None
        return payload.request_id

    def decision(
        self, payload: DecisionInput, request: ApprovalRequest, *, kind: DecisionKind, now: datetime
    ) -> Proven:
        """The proven approver of ``payload`` for ``request``, or ``Refused`` saying why not."""
        statement = payload.statement
        if statement is None:
            if signature_required(self.charter, request):
                raise Refused(
                    f"{request.tool} needs a signed decision: `mandate {kind.value}` signs with your key; in the "
                    f"Web UI paste the output of `mandate sign {self.run.workflow_id} --request {request.id} "
                    f"--as you@example.com --decision {kind.value}`"
                )
            return Proven(who=payload.approver, reason=payload.reason, statement=None, verified=False)
        if payload.approver and not same_person(payload.approver, statement.signer):
            raise Refused(f"the decision names {payload.approver} but is signed by {statement.signer}")
        self._verify(
            statement,
            now,
            act=Act(kind.value),
            request_id=request.id,
            tool=request.tool,
            args_hash=request.args_hash,
            workflow_id=self.run.workflow_id,
            run_id=self.run.run_id,
        )
        return Proven(who=statement.signer, reason=statement.reason, statement=statement, verified=True)

    def kill(self, order: KillInput, *, stop_go: str, now: datetime) -> Proven:
        """The proven sender of a kill: the stop/go owner or the monitor's service key."""
        statement = order.statement
        if statement is None:
            raise Refused(
                f"a kill must be signed by the stop/go owner ({stop_go}): `mandate kill {self.run.agent} --as {stop_go}` "
                "signs it"
            )
        if not (same_person(statement.signer, stop_go) or same_person(statement.signer, MONITOR)):
            raise Refused(f"{statement.signer} is not the stop/go owner of {self.run.agent} (only {stop_go} may kill it)")
        content = self._verify(statement, now, act=Act.KILL)
        if content.workflow_id not in ("", self.run.workflow_id):
            raise Refused(f"the kill is for run {content.workflow_id!r}, not this one")
        return Proven(who=content.signer, reason=content.reason, statement=statement, verified=True)

    def _verify(self, statement: SignedStatement, now: datetime, **expect: object) -> Statement:
        try:
            return verify_statement(
                statement,
                self.keys,
                now=now,
                expect={"namespace": self.run.namespace, "agent": self.run.agent, **expect},
            )
        except StatementRefused as refusal:
            raise Refused(f"the signed statement does not verify: {refusal}") from None


def verify_fleet_order(
    statement: SignedStatement | None,
    *,
    act: Act,
    keys: KeySet,
    namespace: str,
    agent: str,
    stop_go: str,
    workflow_id: str,
    now: datetime,
) -> Statement:
    """A ``mandate kill`` or ``mandate resume`` sent to an agent's monitor: signed by the stop/go owner, for
    this agent (and, for a kill of one run, that run); ``Refused`` saying why not."""
    if statement is None:
        raise Refused(f"a {act.value} must be signed by the stop/go owner ({stop_go}): `mandate {act.value} {agent} --as {stop_go}`")
    try:
        content = verify_statement(
            statement,
            keys,
            now=now,
            expect={"act": act, "namespace": namespace, "agent": agent, "workflow_id": workflow_id},
        )
    except StatementRefused as refusal:
        raise Refused(f"the signed {act.value} does not verify: {refusal}") from None
    if not same_person(content.signer, stop_go):
        raise Refused(f"{content.signer} is not the stop/go owner of {agent} (only {stop_go} may {act.value} it)")
    return content
