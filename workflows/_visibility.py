"""What the Temporal Web UI and visibility queries show about a run while it runs.

Its search attributes (``mandate.search_attributes``: "waiting on me" is
``MandatePendingApprovals > 0 AND MandateApprovers = 'me'``) and the UI's "current details" (what waits
for a person and how to decide it there, under the UI's "User Metadata" tab), and the signals its "Send a
Signal" lists: the named ones only (``answer_metadata_query``). A change is noted, and written where the run waits: once per
workflow task and only what changed when the run's protocol coalesces (``_protocol``), at once
otherwise, as runs recorded before that did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes

from mandate import search_attributes as sa
from mandate.contract import Signal
from mandate.decisions import ApprovalRequest
from mandate.run import RunState

__all__ = ["RunFacts", "Visibility", "how_to_decide", "METADATA_QUERY"]

#: The built-in query the Web UI reads a run's signal list and current details from.
METADATA_QUERY = "__temporal_workflow_metadata"


@dataclass(frozen=True)
class RunFacts:
    """The facts about a run its search attributes carry."""

    agent: str
    state: RunState
    pending: list[ApprovalRequest]
    requested_by: str
    cost: float
    flags: Iterable[str]
    owner: str | None  # the workflow owner, once the charter is loaded


def how_to_decide(pending: list[ApprovalRequest]) -> str:
    """The Web UI's "current details": what waits for a person here, and how to answer from the UI."""
    if not pending:
        return "Nothing waits for a person in this run."
    lines = ["**Waiting for a person**", ""]
    for r in pending:
        lines.append(f"- `{r.id}` {r.tool} `{r.args_hash[:19]}…`, approvers: {', '.join(r.eligible)}")
    first = pending[0]
    who, also = first.decider()
    lines += [
        "",
        f'To decide here: "Send a Signal", choose `{Signal.APPROVE.value}` or `{Signal.REJECT.value}`, and paste '
        f"as its input what `mandate sign <workflow id> --request {first.id} --as {who} --decision approve` "
        f"prints (signed with {who}'s key{'; ' + also if also else ''}). "
        f"Or `mandate approve <workflow id> --request {first.id} --as {who}`.",
    ]
    return "\n".join(lines)


class Visibility:
    """Keeps a run's search attributes and current details in step with ``facts()``, writing only changes."""

    def __init__(self, facts: Callable[[], RunFacts]) -> None:
        self._facts = facts
        self._published: dict[str, Any] = {}
        self._dirty = False
        self.coalesce = False
        self._sdk_metadata = workflow.get_query_handler(METADATA_QUERY)
        if self._sdk_metadata is not None:
            workflow.set_query_handler(METADATA_QUERY, self.answer_metadata_query)

    def answer_metadata_query(self) -> WorkflowMetadata:
        """The SDK's answer without the dynamic signal handler: it has no name, so the UI listed it by its
        description, pre-selected, with nothing it could send. A query handler issues no command: replay
        is unaffected."""
        assert self._sdk_metadata is not None
        answer: WorkflowMetadata = self._sdk_metadata()
        named = [d for d in answer.definition.signal_definitions if d.name]
        del answer.definition.signal_definitions[:]
        answer.definition.signal_definitions.extend(named)
        return answer

    def coalesce_from(self, start: TypedSearchAttributes) -> None:
        """Write at the run's waits from now on, knowing what the start set (``mandate start`` sets most)."""
        self.coalesce = True
        self._published = {sa.APPROVERS.name: [], sa.COST.name: 0.0, sa.FLAGS.name: []}
        for key in sa.ALL:
            value = start.get(key)
            if value is not None:
                self._published[key.name] = list(value) if isinstance(value, list | tuple) else value

    def changed(self) -> None:
        """The facts changed: write them now, or at the next ``flush`` when coalescing."""
        self._dirty = True
        if not self.coalesce:
            self.flush()

    def flush(self) -> None:
        """Write what changed since the last write, if anything did."""
        if not self._dirty:
            return
        self._dirty = False
        facts = self._facts()
        workflow.set_current_details(how_to_decide(facts.pending))
        values: dict[str, Any] = {
            sa.AGENT.name: facts.agent,
            sa.STATE.name: facts.state.value,
            sa.PENDING_APPROVALS.name: len(facts.pending),
            sa.APPROVERS.name: sorted({a for r in facts.pending for a in r.eligible}),
            sa.REQUESTED_BY.name: facts.requested_by,
            sa.COST.name: round(facts.cost, 6),
            sa.FLAGS.name: sorted(facts.flags),
        }
        if facts.owner is not None:
            values[sa.OWNER.name] = facts.owner
        keys = {k.name: k for k in sa.ALL}
        updates: list[SearchAttributeUpdate[Any]] = [
            keys[name].value_set(value) for name, value in values.items() if self._published.get(name) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published.update(values)
