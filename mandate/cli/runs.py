"""Runs: `mandate start`, `mandate status`, `mandate pending`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mandate import api
from mandate.cli._agents import catalogue, charters_of
from mandate.cli._render import plain, print_json, show_pending
from mandate.cli._safe import safe_text
from mandate.cli._status import show_record, show_status
from mandate.cli.app import AddressOpt, AppOpt, ChartersOpt, JsonOpt, app, client, fail, run
from mandate.settings import load_settings


@app.command()
def start(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="the agent's name, as its charter names it")],
    input: Annotated[str, typer.Option("--input", help='the run\'s input as JSON, e.g. {"order_id": 1001}')],
    requested_by: Annotated[str, typer.Option("--requested-by", help="who asks for this run")],
    id: Annotated[str | None, typer.Option("--id", help="workflow id [default: AGENT-<random>]")] = None,
    charters: ChartersOpt = None,
    address: AddressOpt = None,
    apps: AppOpt = None,
) -> None:
    """Start one agent run and print its workflow id."""
    try:
        payload = json.loads(input)
    except json.JSONDecodeError as err:
        fail(f"--input is not valid JSON: {err.msg} at column {err.colno}")
    if not isinstance(payload, dict):
        fail("--input must be a JSON object")
    if not requested_by.strip():
        fail("--requested-by must name a person")
    served = charters_of(catalogue(apps, charters))
    settings = load_settings()
    held = _keys_of(requested_by)

    async def main() -> str:
        return await api.start_agent(
            await client(address),
            served,
            agent,
            input=payload,
            requested_by=requested_by,
            task_queue=settings.task_queue,
            workflow_id=id,
        )

    plain(run(main))
    # The start is signed with the requester's key; a demo keys file gives anyone one on first use: say so.
    if _keys_of(requested_by) - held:
        shown = safe_text(requested_by.strip())
        typer.echo(f"made a demo signing key for {shown} (demo keys file: anyone gets one on first use)", err=True)


def _keys_of(person: str) -> set[str]:
    """The ids of the keys this machine holds for ``person``."""
    from mandate.errors import MandateError
    from mandate.keys import local_keys

    try:
        return {key.key_id for key in local_keys(person.strip())}
    except MandateError as err:
        fail(str(err))


@app.command()
def status(
    workflow_id: Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help="the run")],
    as_json: JsonOpt = False,
    address: AddressOpt = None,
) -> None:
    """State (as Temporal closed the run, if it did), steps, pending approvals, decisions and owners of one run.

    When no worker answers the run's status query, says what Temporal itself knows of the run.
    """

    async def main() -> api.RunStatus | api.StatusNotAnsweredError:
        try:
            return await api.get_status(await client(address), workflow_id)
        except api.StatusNotAnsweredError as unanswered:
            return unanswered

    result = run(main)
    if isinstance(result, api.StatusNotAnsweredError):
        note = f"{result}; start `mandate worker` for its steps, requests and decisions"
        if as_json:
            print_json({**result.record.model_dump(mode="json"), "answered": False, "note": note})
        else:
            show_record(result.record, note)
        return
    if as_json:
        print_json({**result.model_dump(mode="json"), "answered": True})
    else:
        show_status(result)


@app.command()
def pending(
    agent: Annotated[str | None, typer.Option("--agent", help="only this agent's requests")] = None,
    as_json: JsonOpt = False,
    address: AddressOpt = None,
) -> None:
    """Every pending approval request across running workflows."""

    async def main() -> list[api.PendingApproval]:
        return await api.list_pending(await client(address), agent=agent)

    items = run(main)
    if as_json:
        rows: list[dict[str, Any]] = [
            {"workflow_id": p.workflow_id, "agent": p.agent, **p.request.model_dump(mode="json")} for p in items
        ]
        print_json(rows)
    else:
        show_pending(items)
