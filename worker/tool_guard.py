"""The check every tool call passes in the worker, before the tool runs: verified where the write happens.

Anyone who can reach the Temporal frontend can run a workflow of their own that calls Mandate's
activities on Mandate's task queue. So a tool does not trust its caller. It looks at what the server
says about the call (``activity.info()``: the calling workflow's type, id, run id and namespace), not
at what the caller wrote:

- the calling workflow must be an agent this worker serves, on this worker's task queue by the server's
  own record of the run (``worker.callers``), with a start a worker verified, and the call must be for
  that agent;
- a tool the agent's charter blocks or does not name never runs;
- a gated write runs only on a signed approval, verified here again with the worker's own keys file,
  for this very run, tool and arguments (a tool whose charter accepts unsigned decisions excepted);
- a compensation runs only on a signed kill with rollback bound to this run (from protocol 5 the monitor
  signs one for each run it stops, naming its workflow id and run id; a fleet-wide kill of older runs
  counts only if it was issued after the run started), by the stop/go owner or the monitor's service
  key, and only with the undo key of a write of this run.

A refusal is a non-retryable ``ToolRefused``; its nonce is recorded by the tool in its own transaction
(``mandate.nonces.claim_nonce``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from mandate.approvals.proof import signature_required
from mandate.authority import Authority, Policy
from mandate.charter import Charter
from mandate.contract import MONITOR
from mandate.decisions import ApprovalRequest, same_person
from mandate.errors import KeysError, StatementRefused
from mandate.keys import load_keys
from mandate.origins import RunOrigin
from mandate.run import RUN_BOUND_KILLS, ToolCallInput
from mandate.statements import SKEW_SECONDS, Act, Statement, sha256_of, verify_statement
from mandate.tools import ToolSpec
from mandate.worker.callers import Callers

__all__ = ["CharterGuard"]


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type="ToolRefused", non_retryable=True)


class CharterGuard:
    """``mandate.tools.ToolGuard`` for the agents a worker serves, by their charters."""

    def __init__(self, charters: Mapping[str, Charter], agents_by_type: Mapping[str, str], callers: Callers) -> None:
        self._charters = dict(charters)
        self._agents = dict(agents_by_type)
        self._callers = callers

    async def admit(self, spec: ToolSpec, call: ToolCallInput, info: activity.Info) -> Statement | None:
        agent = self._agents.get(info.workflow_type or "")
        if agent is None:
            raise _refuse(
                f"{spec.name} runs only for the agents this worker serves; workflow type "
                f"{info.workflow_type!r} is none of them"
            )
        if call.agent != agent:
            raise _refuse(f"the call says agent {call.agent!r}, but {info.workflow_type} is {agent!r}")
        caller = await self._callers.require(info, types=self._agents, what=spec.name, verified_start=True)
        charter = self._charters[agent]
        if spec.compensates is not None:
            return self._compensation(spec, call, info, charter, caller)
        rule = charter.policy_for(spec.name)
        if rule.policy is Policy.BLOCK:
            raise _refuse(f"{agent}'s charter blocks {spec.name}")
        if rule.policy is Policy.ALLOW:
            return None
        request = ApprovalRequest.model_construct(tool=spec.name, authority=spec.authority)
        if call.authority is None:
            if signature_required(charter, request):
                raise _refuse(f"{spec.name} needs a signed approval for this run and these arguments; none came")
            return None
        approval = self._verify(
            call,
            info,
            act=Act.APPROVE,
            agent=agent,
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            tool=spec.name,
            args_hash=sha256_of(call.args),
        )
        eligible = [*rule.approvers, *rule.escalate_to]
        if not any(same_person(approval.signer, p) for p in eligible):
            raise _refuse(f"{approval.signer} is not an approver of {spec.name} in {agent}'s charter")
        if spec.authority is Authority.WRITE:
            expected = f"{info.workflow_id}:{info.workflow_run_id}:{approval.request_id}"
            if call.idempotency_key != expected:
                raise _refuse(f"the idempotency key {call.idempotency_key!r} is not this run's for {approval.request_id}")
        return approval

    def _compensation(
        self, spec: ToolSpec, call: ToolCallInput, info: activity.Info, charter: Charter, caller: RunOrigin
    ) -> Statement:
        if call.authority is None:
            raise _refuse(f"{spec.name} undoes a write only on a signed kill with rollback; none came")
        kill = self._verify(call, info, act=Act.KILL, agent=charter.name)
        if not kill.rollback:
            raise _refuse(f"the kill by {kill.signer} did not ask for a rollback")
        if kill.workflow_id not in ("", info.workflow_id):
            raise _refuse(f"the kill is for run {kill.workflow_id!r}, not {info.workflow_id!r}")
        if kill.run_id not in ("", info.workflow_run_id):
            raise _refuse(f"the kill is for run id {kill.run_id!r}, not {info.workflow_run_id!r}")
        if (caller.protocol or 0) >= RUN_BOUND_KILLS and not (kill.workflow_id and (kill.run_id or kill.signer != MONITOR)):
            raise _refuse("a rollback needs a kill bound to this run; a fleet-wide statement binds none")
        if kill.issued_at < int(caller.started_at.timestamp()) - SKEW_SECONDS:
            raise _refuse(f"the kill was issued before {info.workflow_id} started; it cannot be for this run")
        if not (same_person(kill.signer, charter.owners.stop_go) or same_person(kill.signer, MONITOR)):
            raise _refuse(f"{kill.signer} is not the stop/go owner of {charter.name}")
        prefix = f"{info.workflow_id}:{info.workflow_run_id}:"
        if not (call.idempotency_key or "").startswith(prefix) or not (call.idempotency_key or "").endswith(":undo"):
            raise _refuse(f"{call.idempotency_key!r} is not the undo key of a write of this run")
        return kill

    def _verify(self, call: ToolCallInput, info: activity.Info, **expect: object) -> Statement:
        assert call.authority is not None
        try:
            keys = load_keys()
        except KeysError as err:
            raise ApplicationError(str(err), type="KeysError") from None
        try:
            return verify_statement(
                call.authority,
                keys,
                now=info.scheduled_time.astimezone(UTC) if info.scheduled_time else datetime.now(UTC),
                expect={"namespace": info.workflow_namespace, **expect},
            )
        except StatementRefused as refusal:
            raise _refuse(f"the statement does not verify here: {refusal}") from None
