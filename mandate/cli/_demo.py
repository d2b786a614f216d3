"""`mandate demo`: the whole loop on the embedded server, told step by step."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Mapping

from temporalio.client import Client

from mandate import api
from mandate.charter import Charter
from mandate.cli._render import console, short_args, show_status
from mandate.contract import Query, Signal
from mandate.decisions import ApprovalRequest, DecisionKind
from mandate.errors import DecisionRefusedError
from mandate.settings import load_settings

__all__ = ["tell", "wait_for_request"]

REQUESTER = "bob@example.com"


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
    raise TimeoutError(f"{workflow_id} did not ask to approve {tool} within {timeout}s")


def _say(text: str) -> None:
    console.print(f"\n[bold cyan]▶[/] {text}")


async def tell(charters: Mapping[str, Charter], *, port: int, ui_port: int, keep_serving: bool) -> None:
    from mandate.worker import build_worker, start_dev_server

    settings = load_settings()
    _say(f"Starting the Temporal dev server (state in {settings.server_db}) and a Mandate worker.")
    env = await start_dev_server(db=settings.server_db, port=port, ui_port=ui_port)
    client = env.client
    try:
        async with build_worker(client, task_queue=settings.task_queue, charters=charters):
            await _story(client, charters, settings.task_queue)
            console.print(
                f"\nSee every run, its history and its search attributes in the Web UI: "
                f"http://localhost:{ui_port}/namespaces/default/workflows"
            )
            if keep_serving:
                console.print("The server and worker keep running; Ctrl-C to stop.")
                await asyncio.Event().wait()
    finally:
        await env.shutdown()


async def _story(client: Client, charters: Mapping[str, Charter], task_queue: str) -> None:
    charter = charters["refund-agent"]
    tag = uuid.uuid4().hex[:6]
    _say(f"{REQUESTER} asks refund-agent to refund order 1001, which arrived damaged.")
    first = await api.start_agent(
        client,
        charters,
        "refund-agent",
        input={"order_id": 1001, "reason": "arrived damaged"},
        requested_by=REQUESTER,
        task_queue=task_queue,
        workflow_id=f"demo-refund-1001-{tag}",
    )
    console.print(f"  workflow id: {first}")
    request = await wait_for_request(client, first, "issue_refund")
    _say(
        "The agent looked the order up and checked the policy (read tools run freely), then proposed a write:"
    )
    console.print(f"  request {request.id}: {request.tool} {short_args(request.args)}")
    console.print(f"  argument hash {request.args_hash}")
    console.print(
        f"  approvers named by the charter: {', '.join(request.approvers)}; it waits for one of them."
    )

    _say(f"{REQUESTER} tries to approve their own request:")
    try:
        await api.decide(
            client, first, decision=DecisionKind.APPROVE, approver=REQUESTER, request_id=request.id
        )
    except DecisionRefusedError as err:
        console.print(f"  refused: {err}")

    _say(f"{charter.owners.risk} (risk owner) approves it with `mandate approve`:")
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
            "SELECT id, amount_cents, status FROM refunds WHERE order_id = 1001 ORDER BY id DESC"
        ).fetchone()
    console.print(f"  the shop database now holds refund {row[0]}: {row[1] / 100:.2f} USD, {row[2]}")

    _say("The agent drafted a message to the customer; a person reads it before it goes out:")
    console.print(f"  {notice.args['message']!r}")
    console.print(
        "  qi@example.com approves by signal, as the Web UI's 'Send a Signal' or"
        " `temporal workflow signal --name approve` would:"
    )
    await client.get_workflow_handle(first).signal(
        Signal.APPROVE, {"request_id": notice.id, "approver": "qi@example.com", "reason": "message reads well"}
    )
    await client.get_workflow_handle(first).result()
    show_status(await api.get_status(client, first))

    _say(
        "A second customer wants a refund and their account deleted. delete_customer is blocked by the charter:"
    )
    second = await api.start_agent(
        client,
        charters,
        "refund-agent",
        input={"order_id": 1002, "reason": "wrong size, and delete my account"},
        requested_by=REQUESTER,
        task_queue=task_queue,
        workflow_id=f"demo-refund-1002-{tag}",
    )
    request = await wait_for_request(client, second, "issue_refund")
    _say(f"{charter.owners.stop_go} rejects this refund with `mandate reject`:")
    await api.decide(
        client,
        second,
        decision=DecisionKind.REJECT,
        approver=charter.owners.stop_go,
        reason="customer already got a replacement",
        request_id=request.id,
    )
    await client.get_workflow_handle(second).result()
    show_status(await api.get_status(client, second))
