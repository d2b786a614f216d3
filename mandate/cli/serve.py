"""Serving agents: `mandate dev`, `mandate worker`, `mandate setup`, `mandate demo`."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mandate.cli._agents import catalogue, charters_of, serving
from mandate.cli._render import console, esc
from mandate.cli._safe import safe_text
from mandate.cli.app import AddressOpt, AllowUnreadyOpt, AppOpt, ChartersOpt, app, client, fail, run
from mandate.errors import MandateError
from mandate.settings import load_settings

PortOpt = Annotated[int, typer.Option("--port", help="frontend gRPC port")]
UiPortOpt = Annotated[int, typer.Option("--ui-port", help="Web UI port")]
AllowDemoKeysOpt = Annotated[
    bool,
    typer.Option(
        "--allow-demo-keys",
        help="serve with a demo keys file (anyone on this machine gets a trusted key on first use): "
        "for tests and trials only, and says so",
    ),
]


def _ports_free(port: int, ui_port: int) -> None:
    """Refuse a taken port before anything starts, rather than attach to someone else's server."""
    from mandate.worker.dev_server import ensure_ports_free

    try:
        ensure_ports_free(port, ui_port)
    except MandateError as err:
        fail(str(err))


@app.command()
def dev(
    db: Annotated[Path | None, typer.Option(help="SQLite file [default: $MANDATE_HOME/temporal.db]")] = None,
    port: PortOpt = 7233,
    ui_port: UiPortOpt = 8233,
    charters: ChartersOpt = None,
    allow_unready: AllowUnreadyOpt = False,
    apps: AppOpt = None,
) -> None:
    """Embedded dev server + Web UI + worker in the foreground; Ctrl-C stops all three."""
    _ports_free(port, ui_port)
    settings = load_settings()
    found, served = serving(apps, charters, allow_unready)
    demo_keys(served)
    db_path = db or settings.server_db
    log = settings.home / "dev-server.log"

    async def main() -> None:
        from mandate.worker import build_worker, start_dev_server, start_monitors

        env = await start_dev_server(db=db_path, port=port, ui_port=ui_port, log=log)
        try:
            w = build_worker(
                env.client, task_queue=settings.task_queue, charters=served, workflows=found.workflows
            )
            await start_monitors(env.client, served, task_queue=settings.task_queue)
            console.print(f"Temporal dev server on localhost:{port} (state in {esc(db_path)}, log in {esc(log)})")
            hint = reach_hint(port)
            if hint:
                console.print(hint)
            console.print(f"Web UI: http://localhost:{ui_port}/namespaces/default/workflows")
            console.print(
                f"worker on task queue {esc(repr(settings.task_queue))} serving: {esc(', '.join(sorted(served)))}"
            )
            console.print("Ctrl-C to stop.")
            await _run_until_stopped(w)
        finally:
            await env.shutdown()
        console.print("stopped.")

    run(main)


def reach_hint(port: int) -> str | None:
    """The line other terminals need to reach a dev server on ``port``, unless they reach it without one
    (the CLI's default address is ``localhost:7233``, or TEMPORAL_ADDRESS / a temporal.toml profile)."""
    from mandate.client import DEFAULT_ADDRESS, connect_config

    here = connect_config()["target_host"]
    if port == int(DEFAULT_ADDRESS.rpartition(":")[2]) and here in (DEFAULT_ADDRESS, f"127.0.0.1:{port}"):
        return None
    return f"in another terminal, point the CLI at it: export TEMPORAL_ADDRESS=127.0.0.1:{port}"


@app.command(name="worker")
def worker_cmd(
    charters: ChartersOpt = None,
    address: AddressOpt = None,
    allow_unready: AllowUnreadyOpt = False,
    apps: AppOpt = None,
    allow_demo_keys: AllowDemoKeysOpt = False,
) -> None:
    """Worker only, against TEMPORAL_ADDRESS; SIGINT/SIGTERM stop it after in-flight tasks."""
    settings = load_settings()
    found, served = serving(apps, charters, allow_unready)
    _no_demo_keys(allow_demo_keys)

    async def main() -> None:
        from mandate.worker import build_worker, start_monitors

        connected = await client(address)
        w = build_worker(connected, task_queue=settings.task_queue, charters=served, workflows=found.workflows)
        await start_monitors(connected, served, task_queue=settings.task_queue)
        console.print(
            f"worker on task queue {esc(repr(settings.task_queue))} serving: {esc(', '.join(sorted(served)))}"
        )
        await _run_until_stopped(w)

    run(main)


def _no_demo_keys(allowed: bool) -> None:
    """The keys a worker starts with. It trusts the keys file in force; a demo file (``mandate dev``'s, ``mandate demo``'s) gives a key
    to anyone who signs on this machine, so serving with it outside dev/demo trusts anyone. Refused in one
    line saying how to fix it, or served with a warning under ``--allow-demo-keys``."""
    from mandate.keys import check_private_keys, keys_path, load_keys

    path = keys_path()
    try:
        demo = load_keys(path).demo
        check_private_keys()  # the monitor's key: its folder tightened, or refused, before anything is served
    except MandateError as err:
        fail(str(err))
    if not demo:
        return
    if not allowed:
        fail(
            f"{path} is a demo keys file (made by `mandate dev` / `mandate demo`: anyone gets a key on first use); "
            "make real keys with `mandate keys new --as NAME` into the risk owner's keys file and point "
            "MANDATE_KEYS at it, or pass --allow-demo-keys to serve with demo keys anyway"
        )
    typer.echo(
        f"warning: DEMO KEYS: serving with the demo keys file {safe_text(path)}, in which anyone on this machine "
        "gets a trusted key on first use; never on a real deployment (--allow-demo-keys)",
        err=True,
    )


async def _run_until_stopped(w: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with w:
        await stop.wait()
        console.print("stopping…")


@app.command()
def setup(address: AddressOpt = None) -> None:
    """Register Mandate's search attributes in the namespace (idempotent)."""

    async def main() -> None:
        from mandate.worker import register_search_attributes

        added = await register_search_attributes(await client(address))
        console.print(
            f"added search attributes: {', '.join(added)}" if added else "search attributes already registered"
        )

    run(main)


@app.command()
def demo(
    port: PortOpt = 7233,
    ui_port: UiPortOpt = 8233,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="stop when the story is told instead of serving the UI")
    ] = False,
    charters: ChartersOpt = None,
    apps: AppOpt = None,
) -> None:
    """The whole loop on the embedded server, narrated."""
    from mandate.cli._demo import tell

    _ports_free(port, ui_port)
    found = catalogue(apps, charters)
    served = charters_of(found)
    demo_keys(served)
    keep_serving = not exit_after and sys.stdin.isatty()
    run(lambda: tell(served, found.workflows, port=port, ui_port=ui_port, keep_serving=keep_serving))


def demo_keys(served: dict[str, Any]) -> None:
    """On this machine's demo keys file (never the risk owner's): a key for every person the served
    charters name and for the monitor, so the README's commands sign as they run. Says so."""
    from mandate.errors import MandateError
    from mandate.keys import ensure_demo_keys, keys_path
    from mandate.worker.start_check import people_named

    try:
        made = ensure_demo_keys(people_named(served.values()))
    except MandateError as err:
        fail(str(err))
    if made:
        console.print(
            f"demo keys made for {len(made)} people in {esc(str(keys_path()))} (demo only: production points "
            "MANDATE_KEYS at the risk owner's keys file)"
        )
