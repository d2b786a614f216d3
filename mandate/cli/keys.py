"""Keys and signed statements: `mandate keys new` makes a person's key; `mandate sign` prints a signed
decision to paste into the Temporal Web UI's "Send a Signal"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from mandate.cli._render import console, esc, print_json, print_lines
from mandate.cli._safe import json_safe, safe_text
from mandate.cli.app import AddressOpt, JsonOpt, app, client, fail, run
from mandate.decisions import DecisionKind
from mandate.errors import MandateError

keys_app = typer.Typer(help="People's signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    person: Annotated[str, typer.Option("--as", help="whose key (an email, as the charters name people)")],
    key_id: Annotated[str | None, typer.Option("--key-id", help="a name for the key [default: made up]")] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="last valid day, YYYY-MM-DD [default: never]")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a signing key: the private part under $MANDATE_HOME/keys (mode 0600), the public entry added to
    the keys file in use ($MANDATE_KEYS, default $MANDATE_HOME/keys.toml), and printed."""
    from mandate.keys import KeysFileNotWritable, keys_path, new_key, publish

    until = None
    if expires:
        try:
            until = datetime.strptime(expires, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            fail(f"--expires {expires!r} is not a date (YYYY-MM-DD)")
    try:
        local, entry = new_key(person, key_id=key_id, expires_at=until)
    except MandateError as err:
        fail(str(err))
    except ValueError as err:
        fail(f"--key-id: {err}")
    added: str | None = None  # the keys file the entry went into; None: its owner must add it
    try:
        added = str(publish(entry))
    except KeysFileNotWritable as err:  # a worker's read-only mount of the risk owner's file
        typer.echo(f"warning: {safe_text(err)}: send the entry below to the risk owner, who adds it", err=True)
    except MandateError as err:
        fail(str(err))
    if as_json:
        print_json({**entry.model_dump(mode="json"), "private_key_file": str(local.path), "keys_file": added})
        return
    console.print(f"key {esc(entry.key_id)} for {esc(entry.person)}: private part in {esc(str(local.path))} (0600)")
    if added is not None:
        console.print(f"public entry added to {esc(str(keys_path()))}:")
    else:
        console.print(f"public entry, for the risk owner to add to {esc(str(keys_path()))}:")
    print_lines(f'\n[[key]]\nperson = "{entry.person}"\nkey_id = "{entry.key_id}"\npublic_key = "{entry.public_key}"')


@app.command()
def sign(
    workflow_id: Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help="the run")],
    person: Annotated[str, typer.Option("--as", help="who decides (their key signs)")],
    decision: Annotated[DecisionKind, typer.Option("--decision", help="approve or reject")],
    request: Annotated[str | None, typer.Option("--request", help="request id; optional when one is pending")] = None,
    reason: Annotated[str, typer.Option("--reason", help="why (signed with the decision)")] = "",
    address: AddressOpt = None,
) -> None:
    """Print a signed decision (one JSON line) to paste as the input of the Web UI's approve/reject signal."""
    if decision is DecisionKind.REJECT and not reason.strip():
        fail("--reason must say why")

    async def main() -> Any:
        from mandate.api.decide import chosen_request, decision_context, sign_decision
        from mandate.signer import Signer

        connected = await client(address)
        context = await decision_context(connected, connected.get_workflow_handle(workflow_id))
        found = chosen_request(context.pending, request)
        if found is None:
            raise MandateError(
                f"{workflow_id} has no pending request {request}" if request else
                f"{workflow_id} has no single pending request; name one with --request"
            )
        return sign_decision(Signer.of(person), connected.namespace, workflow_id, context, found, decision, reason)

    print(json_safe(run(main).to_json()))  # the same JSON value, pasted as it was signed
