"""`mandate demo`: the whole loop on the embedded server, told step by step.

The demo refunds orders the README's examples leave alone: the first refundable one of 1041-1048
(approved, so each demo refunds a new one), and the last of them (rejected, so it stays refundable).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Mapping

from temporalio.client import Client

from mandate import api
from mandate.charter import Charter
from mandate.cli._demo_model import model_act
from mandate.cli._render import console, esc, short_args
from mandate.cli._status import show_status
from mandate.contract import Query, Signal
from mandate.decisions import ApprovalRequest, DecisionKind
from mandate.errors import DecisionRefusedError, MandateError
from mandate.settings import load_settings
from mandate.signer import Signer

__all__ = ["tell", "wait_for_request", "pick_orders", "DEMO_ORDERS"]

REQUESTER = "bob@example.com"
AGENT = "refund-agent"
#: Refundable orders of the demo shop (not past the refund window, not in transit) that the README's
#: examples do not use.
DEMO_ORDERS = (1041, 1043, 1044, 1045, 1046, 1047, 1048)


async def wait_for_request(
    client: Client, workflow_id: str, tool: str, timeout: float = 30
) -> ApprovalRequest:
    """Poll the run's ``pending_approvals`` query until a request for ``tool`` shows up."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for request in await handle.query(Query.PENDING_APPROVALS, result_type=list[ApprovalRequest]):
            if request.tool == tool:
                return request
        await asyncio.sleep(0.2)
    raise MandateError(
        f"{workflow_id} did not ask to approve {tool} within {timeout:.0f}s; `mandate status {workflow_id}` says why"
    )


def pick_orders() -> tuple[int, int]:
    """Two demo orders that can still be refunded: the first to approve, the last to reject."""
    from mandate.activities.shop_db import connect

    with connect() as db:
        refunded = {row[0] for row in db.execute("SELECT order_id FROM refunds WHERE status = 'issued'")}
    free = [order for order in DEMO_ORDERS if order not in refunded]
    if len(free) < 2:
        shop = load_settings().shop_db
        raise MandateError(
            f"the demo shop ({shop}) has refunded every demo order ({DEMO_ORDERS[0]}-{DEMO_ORDERS[-1]}); "
            "remove that file to start the shop over"
        )
    return free[0], free[-1]


def _say(text: str) -> None:
    console.print(f"\n[bold cyan]▶[/] {text}")


async def tell(
    charters: Mapping[str, Charter],
    workflows: Mapping[str, type],
    *,
    port: int,
    ui_port: int,
    keep_serving: bool,
) -> None:
    from mandate.cli.serve import reach_hint
    from mandate.worker import build_worker, start_dev_server

    if AGENT not in charters:
        known = ", ".join(sorted(charters)) or "none"
        raise MandateError(
            f"the demo runs {AGENT}, which has no charter here (found: {known}); run it with "
            "--charters pointing at a folder holding refund-agent.toml"
        )
    settings = load_settings()
    approved, rejected = pick_orders()
    log = settings.home / "dev-server.log"
    _say(f"Starting the Temporal dev server (state in {esc(settings.server_db)}) and a Mandate worker.")
    env = await start_dev_server(db=settings.server_db, port=port, ui_port=ui_port, log=log)
    client = env.client
    console.print(f"  Temporal on localhost:{port}, Web UI on http://localhost:{ui_port}; its log: {esc(log)}")
    hint = reach_hint(port) if keep_serving else None
    if hint:
        console.print(f"  {hint}")
    try:
        async with build_worker(
            client, task_queue=settings.task_queue, charters=charters, workflows=workflows  # type: ignore[arg-type]
        ):
            await _story(client, charters, settings.task_queue, approved, rejected)
            await model_act(client, charters, settings.task_queue)
            console.print(
                f"\nSee every run, its history and its search attributes in the Web UI: "
                f"http://localhost:{ui_port}/namespaces/default/workflows"
            )
            if keep_serving:
                console.print("The server and worker keep running; Ctrl-C to stop.")
                await asyncio.Event().wait()
    finally:
        await env.shutdown()


async def _story(
    client: Client, charters: Mapping[str, Charter], task_queue: str, approved: int, rejected: int
) -> None:
    charter = charters[AGENT]
    tag = uuid.uuid4().hex[:6]
    _say(f"{REQUESTER} asks {AGENT} to refund order {approved}, which arrived damaged.")
    first = await api.start_agent(
        client,
        charters,
        AGENT,
        input={"order_id": approved, "reason": "arrived damaged"},
        requested_by=REQUESTER,
        task_queue=task_queue,
        workflow_id=f"demo-refund-{approved}-{tag}",
    )
    console.print(f"  workflow id: {esc(first)}")
    request = await wait_for_request(client, first, "issue_refund")
    _say("The agent looked the order up and checked the policy (read tools run freely), then proposed a write:")
    console.print(f"  request {esc(request.id)}: {esc(request.tool)} {esc(short_args(request.args))}")
    console.print(f"  argument hash {esc(request.args_hash)}")
    console.print(f"  approvers named by the charter: {esc(', '.join(request.approvers))}; it waits for one of them.")

    _say(f"{REQUESTER} tries to approve their own request:")
    try:
        await api.decide(client, first, decision=DecisionKind.APPROVE, approver=REQUESTER, request_id=request.id)
    except DecisionRefusedError as err:
        console.print(f"  refused: {esc(err)}")

    _say(f"{esc(charter.owners.risk)} (risk owner) approves it with `mandate approve`:")
    await api.decide(
        client,
        first,
        decision=DecisionKind.APPROVE,
        approver=charter.owners.risk,
        reason="photos confirm the damage",
        request_id=request.id,
    )
    notice = await wait_for_request(client, first, "notify_customer")
    with sqlite3.connect(load_settings().shop_db) as db:
        row = db.execute(
            "SELECT id, amount_cents, status FROM refunds WHERE order_id = ? ORDER BY id DESC", (approved,)
        ).fetchone()
    console.print(f"  the shop database now holds refund {row[0]}: {row[1] / 100:.2f} USD, {esc(row[2])}")

    _say("The agent drafted a message to the customer; a person reads it before it goes out:")
    console.print(f"  {esc(repr(notice.args['message']))}")
    console.print(
        f"  qi@example.com approves from the Web UI: `mandate sign {esc(first)} --as qi@example.com --decision approve`"
        " prints a signed decision, pasted as the input of 'Send a Signal' → approve:"
    )
    handle = client.get_workflow_handle(first)
    signed = Signer.of("qi@example.com").decision(
        approve=True,
        namespace=client.namespace,
        agent=AGENT,
        workflow_id=first,
        run_id=(await handle.describe()).run_id or "",
        request_id=notice.id,
        tool=notice.tool,
        args_hash=notice.args_hash,
        reason="message reads well",
    )
    console.print(f"  [dim]{esc(signed.to_json()[:150])}…[/]")
    await handle.signal(Signal.APPROVE, signed.model_dump(mode="json"))
    await client.get_workflow_handle(first).result()
    console.print()
    show_status(await api.get_status(client, first))

    _say(f"A second customer wants order {rejected} refunded and their account deleted.")
    second = await api.start_agent(
        client,
        charters,
        AGENT,
        input={"order_id": rejected, "reason": "wrong size, and delete my account"},
        requested_by=REQUESTER,
        task_queue=task_queue,
        workflow_id=f"demo-refund-{rejected}-{tag}",
    )
    request = await wait_for_request(client, second, "issue_refund")
    blocked = [s for s in (await api.get_status(client, second)).steps if s.status.value == "blocked"]
    _say("The agent proposed deleting the account. delete_customer is blocked by the charter:")
    for step in blocked:
        console.print(f"  step {step.index}: {esc(step.tool)} {esc(short_args(step.args))}")
        console.print(f"  never ran; recorded as a {esc(step.error or 'policy violation')}")
    console.print(f"  then it went on with the refund, which waits for approval as {esc(request.id)}.")
    _say(f"{esc(charter.owners.stop_go)} rejects this refund with `mandate reject`:")
    await api.decide(
        client,
        second,
        decision=DecisionKind.REJECT,
        approver=charter.owners.stop_go,
        reason="customer already got a replacement",
        request_id=request.id,
    )
    await client.get_workflow_handle(second).result()
    console.print()
    show_status(await api.get_status(client, second))
