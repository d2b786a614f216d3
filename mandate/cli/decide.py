"""Decisions: `mandate approve` and `mandate reject`, one request or every request a --batch file lists."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from temporalio.service import RPCError

from mandate import api
from mandate.cli._batch import BatchItem, read_batch
from mandate.cli._render import console, esc, plain
from mandate.cli.app import AddressOpt, app, client, fail, run
from mandate.decisions import Decision, DecisionKind
from mandate.errors import MandateError

BATCH_CONCURRENCY = 20

AsOpt = Annotated[str, typer.Option("--as", help="who decides (must be an approver in the charter)")]
RequestOpt = Annotated[str | None, typer.Option("--request", help="request id; optional when one is pending")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds to wait for a worker to answer")]
WorkflowArg = Annotated[str | None, typer.Argument(metavar="WORKFLOW_ID", help="the run; leave out with --batch")]
BatchOpt = Annotated[
    Path | None,
    typer.Option("--batch", help="decide every request listed in this file (as `mandate pending --json` writes it)"),
]


@app.command()
def approve(
    approver: AsOpt,
    workflow_id: WorkflowArg = None,
    request: RequestOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="why (recorded with the decision)")] = "",
    batch: BatchOpt = None,
    address: AddressOpt = None,
    timeout: TimeoutOpt = 20.0,
) -> None:
    """Approve a pending request (errors come back at once), or every request in a --batch file."""
    _one_or_batch(DecisionKind.APPROVE, workflow_id, request, batch, approver, reason, address, timeout)


@app.command()
def reject(
    approver: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="why")],
    workflow_id: WorkflowArg = None,
    request: RequestOpt = None,
    batch: BatchOpt = None,
    address: AddressOpt = None,
    timeout: TimeoutOpt = 20.0,
) -> None:
    """Reject a pending request, or every request in a --batch file."""
    if not reason.strip():
        fail("--reason must say why")
    _one_or_batch(DecisionKind.REJECT, workflow_id, request, batch, approver, reason, address, timeout)


def _one_or_batch(
    kind: DecisionKind,
    workflow_id: str | None,
    request: str | None,
    batch: Path | None,
    approver: str,
    reason: str,
    address: str | None,
    timeout: float,
) -> None:
    if batch is None:
        if workflow_id is None:
            fail("name the run (WORKFLOW_ID) or give --batch FILE")
        _decide(kind, workflow_id, request, approver, reason, address, timeout)
        return
    if workflow_id is not None or request is not None:
        fail("--batch decides the requests its file lists; leave out WORKFLOW_ID and --request")
    try:
        items = read_batch(batch)
    except MandateError as err:
        fail(str(err))
    _decide_batch(kind, items, approver, reason, address, timeout)


def _decide(
    kind: DecisionKind,
    workflow_id: str,
    request: str | None,
    approver: str,
    reason: str,
    address: str | None,
    timeout: float,
) -> None:
    async def main() -> Decision:
        return await api.decide(
            await client(address),
            workflow_id,
            decision=kind,
            approver=approver,
            reason=reason,
            request_id=request,
            timeout=timedelta(seconds=timeout),
        )

    decision = run(main)
    verb = "approved" if kind is DecisionKind.APPROVE else "rejected"
    console.print(f"{verb} {esc(decision.request_id)} of {esc(workflow_id)} as {esc(decision.approver)}")


def _decide_batch(
    kind: DecisionKind,
    items: list[BatchItem],
    approver: str,
    reason: str,
    address: str | None,
    timeout: float,
) -> None:
    """Each listed request decided on its own (bound to its run and request id), 20 at a time."""

    async def main() -> list[tuple[BatchItem, str | None]]:
        connected = await client(address)
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(item: BatchItem) -> tuple[BatchItem, str | None]:
            async with gate:
                try:
                    await api.decide(
                        connected,
                        item.workflow_id,
                        decision=kind,
                        approver=approver,
                        reason=reason,
                        request_id=item.request_id,
                        timeout=timedelta(seconds=timeout),
                    )
                except MandateError as err:
                    return item, str(err)
                except RPCError as err:  # one run's trouble must not stop the others
                    return item, f"Temporal refused the request: {err.message or err}"
                return item, None

        return await asyncio.gather(*(one(item) for item in items))

    outcomes = run(main)
    verb = "approved" if kind is DecisionKind.APPROVE else "rejected"
    refused = [(item, why) for item, why in outcomes if why is not None]
    for item, why in refused:
        plain(f"refused {item.request_id} of {item.workflow_id}: {why}")
    console.print(f"{verb} {len(outcomes) - len(refused)} of {len(outcomes)} request(s) as {esc(approver)}")
    if refused:
        fail(f"{len(refused)} of {len(outcomes)} decision(s) refused (listed above); the others were taken")
