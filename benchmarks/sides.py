"""One run of each side, start to result, as its users would drive it.

- ``plain``: ``client.start_workflow`` of ``RawRefund``, its ``pending`` query until the write waits,
  the ``approve`` signal: how a plain Temporal user would write and drive the same work.
- ``governed``: the benchmark agent through ``mandate.api``: ``start_agent`` as ``mandate start`` calls it
  (which first reads the agent's monitor's memo: is it paused); then an approving program's loop: the
  run's ``decision_context`` (``api.decision_context``) until a request shows, and ``api.decide(...,
  context=...)``, the signed ``decide`` update on what it read. ``mandate approve``, a process of its
  own, reads the context itself: one query more.
- ``--profile`` sides (benchmarks/ablations.py): ``input-mandate`` is driven like ``governed``;
  ``governed-direct`` is the benchmark agent started without the pause check and approved by signal.

Governed runs are started and decided with signed statements, as the CLI signs them: ``governed-direct``
signs its start as ``mandate start`` does and its ``approve`` signal carries the decision ``mandate sign``
prints (the request's tool and arguments' hash come from the same ``pending_approvals`` query).

In every case the approver learns from the worker that the run's last read has finished (a hint
through a pipe, see ``harness.Hints``), waits a little less than that side's recent gap between the
hint and the request showing (a running mean), then queries the run every ``poll_s`` until the
request shows. The same for every side; without the wait, polling under load would send several
queries per run, more on the slower side, and a query costs the worker and the server CPU.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from benchmarks.ablations import MANDATE_KEY, mandate_for
from benchmarks.bench_agents import APPROVER, BENCH_AGENT, INPUT_MANDATE_AGENT, REQUESTED_BY
from benchmarks.harness import Stack, next_order, until
from benchmarks.raw_shared import RAW_WRITE_ACTIVITY, RawInput
from benchmarks.raw_workflow import RawRefund
from mandate import api
from mandate.contract import Query, Signal
from mandate.decisions import DecisionContext, DecisionKind
from mandate.errors import MandateError
from mandate.run import AgentResult, AgentRunInput
from mandate.signer import Signer

__all__ = [
    "Side", "SIDES", "one_run", "start_governed", "pending_item", "pending_request", "approval", "new_load",
]

_mandates: dict[str, dict[str, Any]] = {}  # input-mandate: what load_mandate would return, built once
_gap: dict[str, float] = {}  # side -> running mean of seconds from the hint to the request showing


@dataclass(frozen=True)
class Side:
    name: str
    agent: str | None  # None: the plain workflow
    cli: bool  # started and decided through mandate.api (the CLI's code)
    worker: str  # which worker process serves it: "governed" or "plain"
    last_read: str
    write: str


SIDES = {
    "plain": Side("plain", None, False, "plain", "raw_check_refund_policy", RAW_WRITE_ACTIVITY),
    "governed": Side("governed", BENCH_AGENT, True, "governed", "check_refund_policy", "issue_refund"),
    "input-mandate": Side("input-mandate", INPUT_MANDATE_AGENT, True, "governed", "check_refund_policy",
                          "issue_refund"),
    "governed-direct": Side("governed-direct", BENCH_AGENT, False, "governed", "check_refund_policy",
                            "issue_refund"),
}


def new_load() -> None:
    """Forget the gaps learned so far: the load changes (another number of runs in flight)."""
    _gap.clear()


async def approval(
    handle: WorkflowHandle, namespace: str, agent: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The ``approve`` signal's payload for a governed run's ``request`` (as ``pending_approvals`` lists
    it), as the Web UI's "Send a Signal" would carry it: the decision ``mandate sign`` prints, signed by
    the approver."""
    run_id = handle.result_run_id or (await handle.describe()).run_id or ""
    statement = Signer.of(APPROVER).decision(
        approve=True,
        namespace=namespace,
        agent=agent,
        workflow_id=handle.id,
        run_id=run_id,
        request_id=request["id"],
        tool=request["tool"],
        args_hash=request["args_hash"],
        reason="benchmark",
    )
    return statement.model_dump(mode="json")


async def start_governed(stack: Stack, agent: str = BENCH_AGENT, *, cli: bool = True) -> WorkflowHandle:
    run_input: dict[str, Any] = {"order_id": next_order(), "reason": "benchmark"}
    if agent == INPUT_MANDATE_AGENT:
        if agent not in _mandates:
            _mandates[agent] = mandate_for(agent, stack.charters)
        run_input[MANDATE_KEY] = _mandates[agent]
    if cli:  # `mandate start`: the pause check against the agent's monitor, then the start
        workflow_id = await api.start_agent(
            stack.client, stack.charters, agent, input=run_input, requested_by=REQUESTED_BY, task_queue=stack.tq
        )
        return stack.client.get_workflow_handle(workflow_id, result_type=AgentResult)
    charter = stack.charters[agent]
    workflow_id = f"{agent}-{uuid.uuid4().hex[:12]}"
    start = Signer.of(REQUESTED_BY).start(
        namespace=stack.client.namespace, agent=agent, workflow_id=workflow_id, input=run_input
    )
    return await stack.client.start_workflow(
        charter.workflow,
        AgentRunInput(input=run_input, requested_by=REQUESTED_BY, start=start),
        id=workflow_id,
        task_queue=stack.tq,
        result_type=AgentResult,
        search_attributes=api.start_search_attributes(agent, charter, REQUESTED_BY),
    )


async def pending_item(handle: WorkflowHandle, tool: str | None = None) -> dict[str, Any] | None:
    """The run's pending request (for ``tool``), as ``mandate pending`` reads it."""
    try:
        pending = await handle.query(Query.PENDING_APPROVALS, result_type=list)
    except (WorkflowQueryFailedError, RPCError):
        return None  # not yet past its first workflow task
    for request in pending:
        if tool is None or request["tool"] == tool:
            return request
    return None


async def pending_request(handle: WorkflowHandle, tool: str | None = None) -> str | None:
    """The id of the run's pending request (for ``tool``), as ``mandate pending`` reads it."""
    request = await pending_item(handle, tool)
    return request["id"] if request else None


async def _governed_pending(stack: Stack, handle: WorkflowHandle) -> DecisionContext | None:
    """The run's ``decision_context`` once a request waits in it: what an approving program shows a
    person and then signs against (``api.decide(..., context=...)``), one query per look."""
    try:
        context = await api.decision_context(stack.client, handle, task_queue=stack.tq)
    except MandateError:
        return None  # not yet past its first workflow task
    return context if context.pending else None


async def _plain_pending(handle: WorkflowHandle) -> str | None:
    try:
        return "r1" if await handle.query("pending", result_type=bool) else None
    except (WorkflowQueryFailedError, RPCError):
        return None


async def _decide(stack: Stack, side: Side, handle: WorkflowHandle, request: Any) -> None:
    if side.cli:  # an approving program: the decide update, signed against the context it just read
        await api.decide(stack.client, handle.id, decision=DecisionKind.APPROVE, approver=APPROVER,
                         reason="benchmark", request_id=request.pending[0].id, context=request)
    elif side.agent:  # the Web UI's "Send a Signal" with what `mandate sign` printed
        signed = await approval(handle, stack.client.namespace, side.agent, request)
        await handle.signal(Signal.APPROVE, signed)
    else:  # the plain workflow's own approve signal
        await handle.signal(Signal.APPROVE, {"approver": APPROVER, "reason": "benchmark"})


async def one_run(stack: Stack, side: Side) -> dict[str, Any]:
    """Start, wait for the approval request, approve it at once, wait for the result."""
    queries = 0
    t0 = time.perf_counter()
    handle: WorkflowHandle[Any, Any]
    if side.agent is None:
        handle = await stack.client.start_workflow(
            RawRefund.run, RawInput(order_id=next_order(), reason="benchmark"), id=f"plain-{uuid.uuid4().hex[:12]}",
            task_queue=stack.plain_tq,
        )
    else:
        handle = await start_governed(stack, side.agent, cli=side.cli)
    t_started = time.perf_counter()
    # the result is awaited from the start, so that a run that ends before its request fails at once
    outcome = asyncio.ensure_future(handle.result())
    hint = asyncio.ensure_future(stack.hints.done(handle.id, side.last_read))
    await asyncio.wait({outcome, hint}, return_when=asyncio.FIRST_COMPLETED)
    if not hint.done():
        hint.cancel()
        stack.hints.forget(handle.id)
        ended = outcome.exception() or outcome.result()
        raise RuntimeError(f"{handle.id} ended before its approval request: {ended}")
    hint.result()
    t_hint = time.perf_counter()
    await asyncio.sleep(0.7 * _gap.get(side.name, 0.0))

    async def visible() -> Any:
        nonlocal queries
        queries += 1
        if side.agent is None:
            return await _plain_pending(handle)
        return await (_governed_pending(stack, handle) if side.cli else pending_item(handle))

    request = await until(visible, every=stack.plan.poll_s, timeout=300, what="the approval request")
    t_visible = time.perf_counter()
    _gap[side.name] = 0.8 * _gap.get(side.name, t_visible - t_hint) + 0.2 * (t_visible - t_hint)
    sent = time.time()
    await _decide(stack, side, handle, request)
    decided = time.time()
    result: Any = await outcome
    t_end = time.perf_counter()
    if side.agent is not None and result.outcome != "refunded":
        raise RuntimeError(f"governed run {handle.id} ended as {result.outcome}: {result.summary}")
    write_started = await stack.hints.started(handle.id, side.write)
    stack.hints.forget(handle.id)
    return {
        "id": handle.id,
        "total_s": t_end - t0,
        "start_call_s": t_started - t0,
        "to_request_s": t_visible - t0,
        "approval_latency_s": write_started - sent,
        "decision_call_s": decided - sent,
        "after_approval_s": t_end - t_visible,
        "queries": queries,
    }
