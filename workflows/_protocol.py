"""Which version of the governed loop a run follows, so it keeps that version on any worker that replays it.

New runs take it from ``AgentMandate.protocol``, which the worker's ``load_mandate`` returns and the run
records in the local-activity marker it writes anyway: no event of its own (``workflow.patched`` costs a
marker and a ``TemporalChangeVersion`` upsert per run). The versions (``mandate.run.GOVERNED_PROTOCOL``):

1. recorded before the field existed: search attributes written at every change, or coalesced when the
   run carries the ``coalesce-search-attributes`` patch;
2. search attributes coalesced: written once per workflow task, where the run waits, only what changed;
3. an approved write starts in the decision's workflow task, with no search-attribute write first;
4. signed authority: decisions, kills and the start are statements the run verifies, a write's
   idempotency key names the run (``<workflow id>:<run id>:<request>``) and its activity gets the approval;
5. kills bound to the run: a kill names this workflow id (and run id, when the monitor signed it) and was
   issued after the run started.

The patch is consulted only while replaying history events: every run that carries it is an old history,
whose first activation is always a replay, and a replay without the marker issues no command, so a new
run never writes it. A change to what happens *before* the charter is loaded still needs
``workflow.patched``.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from mandate.approvals.proof import Proof, RunIdentity
from mandate.run import RUN_BOUND_KILLS, AgentMandate

__all__ = ["COALESCE_SEARCH_ATTRIBUTES", "RunProtocol", "coalesce_patched"]

COALESCE_SEARCH_ATTRIBUTES = "coalesce-search-attributes"
_COALESCED = 2
_APPROVED_WRITE_WITHOUT_PUBLISH = 3
_SIGNED_AUTHORITY = 4


def coalesce_patched() -> bool:
    """Whether this (old, replayed) run carries the coalesce patch. Call once, before the charter loads."""
    return workflow.unsafe.is_replaying_history_events() and workflow.patched(COALESCE_SEARCH_ATTRIBUTES)


@dataclass(frozen=True)
class RunProtocol:
    """The behaviour a run's version asks for."""

    version: int
    coalesce_patched: bool = False

    @property
    def coalesces_search_attributes(self) -> bool:
        return self.coalesce_patched or self.version >= _COALESCED

    @property
    def publishes_before_approved_write(self) -> bool:
        return self.version < _APPROVED_WRITE_WITHOUT_PUBLISH

    @property
    def signed_authority(self) -> bool:
        return self.version >= _SIGNED_AUTHORITY

    def idempotency_prefix(self, workflow_id: str, run_id: str) -> str:
        """What a write's idempotency key starts with: the run too from protocol 4, so a new run that
        reuses a workflow id can never be answered with an earlier run's receipt."""
        return f"{workflow_id}:{run_id}" if self.signed_authority else workflow_id

    def proof(self, mandate: AgentMandate, info: workflow.Info, agent: str) -> Proof | None:
        """What a decision or kill must prove in this run (nothing before protocol 4: names were taken)."""
        if not self.signed_authority:
            return None
        identity = RunIdentity(
            mandate.namespace or info.namespace,
            mandate.workflow_id or info.workflow_id,
            info.run_id,
            agent,
            started_at=info.start_time,
            bound_kills=self.version >= RUN_BOUND_KILLS,
        )
        return Proof(identity, mandate.keys, mandate.charter)
