"""Proof of authority inside a run: is this decision or kill signed by someone entitled to it, for this run?

A run from protocol 4 holds a ``Proof``: the run's identity (namespace, workflow id, run id, agent), the
public keys its loaded mandate carries, and its charter. A decision's statement must be signed by a key
of the keys file, be valid now, and name exactly this run, the request, its tool, its arguments' hash
and the act; then the signer is the approver the gate checks. A tool whose charter says
``accept_unsigned = true`` (by default: read tools) also takes a decision by plain name, recorded as
unsigned. A kill must be signed by the stop/go owner or by the monitor's service key; from protocol 5 it
must also be bound to this run (its workflow id, and its run id when the monitor signed it) and issued
after the run started, so that a kill copied out of another run's history, or a fleet order sent again,
stops nothing it was not signed for.

Pure: ``now`` is passed in (``workflow.now()``), nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mandate.authority import Authority
from mandate.charter import Charter
from mandate.contract import MONITOR
from mandate.decisions import ApprovalRequest, DecisionInput, DecisionKind, KillInput, same_person
from mandate.errors import Refused, StatementRefused
from mandate.keys import KeySet
from mandate.statements import SKEW_SECONDS, Act, SignedStatement, Statement, verify_statement

__all__ = ["RunIdentity", "Proof", "Proven", "signature_required", "verify_fleet_order", "FLEET_ORDER_MAX_LIFETIME"]

#: The longest a kill or resume may be valid: it is applied at once, so a copy must soon be worth nothing.
FLEET_ORDER_MAX_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True)
class RunIdentity:
    namespace: str
    workflow_id: str
    run_id: str
    agent: str
    #: From protocol 5: when the run started, and that its kills must be bound to it.
    started_at: datetime | None = None
    bound_kills: bool = False


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
                who, also = request.decider(payload.approver)
                raise Refused(
                    f"{request.tool} needs a signed decision: `mandate {kind.value}` signs with your key; in the "
                    f"Web UI paste the output of `mandate sign {self.run.workflow_id} --request {request.id} "
                    f"--as {who} --decision {kind.value}`" + (f" ({also})" if also else "")
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
        if self.run.bound_kills:
            self._bound_to_this_run(content)
        who = content.signer
        if same_person(who, MONITOR) and order.order is not None:
            who = self._ordered_by(order.order, stop_go, now) or who
        return Proven(who=who, reason=content.reason, statement=statement, verified=True)

    def _bound_to_this_run(self, kill: Statement) -> None:
        """Protocol 5: a kill names this run, and was issued after it started."""
        if not kill.workflow_id:
            raise Refused(
                "a fleet-wide kill statement binds no run; `mandate kill` sends it to the agent's monitor, "
                "which signs one for each run it stops"
            )
        if same_person(kill.signer, MONITOR) and kill.run_id != self.run.run_id:
            raise Refused(f"the monitor's kill is for run id {kill.run_id!r}, not this run")
        if kill.run_id not in ("", self.run.run_id):
            raise Refused(f"the kill is for run id {kill.run_id!r}, not this run")
        if kill.expires_at - kill.issued_at > FLEET_ORDER_MAX_LIFETIME.total_seconds():
            raise Refused(f"a kill may be valid for {FLEET_ORDER_MAX_LIFETIME.total_seconds() / 60:.0f} minutes at most")
        started = self.run.started_at
        if started is not None and kill.issued_at < int(started.timestamp()) - SKEW_SECONDS:
            raise Refused("the kill was issued before this run started; it cannot be for this run")

    def _ordered_by(self, order: SignedStatement, stop_go: str, now: datetime) -> str | None:
        """Who ordered the kill the monitor signed for this run: the stop/go owner, if their statement
        (carried as evidence, never as authority) verifies; None otherwise."""
        if not same_person(order.signer, stop_go):
            return None
        try:
            content = self._verify(order, now, act=Act.KILL)
        except Refused:
            return None
        return content.signer if content.workflow_id in ("", self.run.workflow_id) else None

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
