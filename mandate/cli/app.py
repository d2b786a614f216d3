"""`mandate`: run, watch and decide governed agents. Every command exits non-zero with one line on failure."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from mandate import api
from mandate.charter import Charter
from mandate.cli._batch import BatchItem, read_batch
from mandate.cli._render import console, print_json, show_metrics, show_pending, show_status
from mandate.decisions import DecisionKind
from mandate.errors import MandateError, first_problem
from mandate.logging import configure_logging
from mandate.settings import load_settings

T = TypeVar("T")

app = typer.Typer(
    name="mandate",
    help="Governed AI-agent workflows on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ChartersOpt = Annotated[
    Path | None, typer.Option("--charters", help="charters directory [default: ./charters]")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
AllowUnreadyOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unready", is_flag=True, help="serve agents whose charter fails the readiness audit (says so)"
    ),
]
AppOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        help="module[:attribute] of a MandateApp to load besides the installed packages' (repeatable; $MANDATE_APP)",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Temporal address [default: $TEMPORAL_ADDRESS or localhost:7233]"),
]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine; user-facing failures become one line on stderr and exit 1."""
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except MandateError as err:
        fail(str(err))
    except RPCError as err:
        fail(f"Temporal refused the request: {err.message or err}")
    except ValidationError as err:  # an argument outside the limits of the models it fills
        fail(first_problem(err))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise AssertionError("unreachable")


def _catalogue(apps: list[str] | None, directory: Path | None) -> Any:
    """The agents the installed packages and ``--app`` offer, and where their charters are."""
    from mandate.worker.agents import discover

    try:
        return discover(apps or (), directory)
    except MandateError as err:
        fail(str(err))


def _charters(apps: list[str] | None, directory: Path | None) -> dict[str, Charter]:
    try:
        return _catalogue(apps, directory).charters()  # type: ignore[no-any-return]
    except MandateError as err:
        fail(str(err))


def _ready_charters(apps: list[str] | None, directory: Path | None, allow_unready: bool) -> dict[str, Charter]:
    """The charters a worker may serve: every one must pass the readiness audit unless --allow-unready."""
    from mandate.tools import registry
    from mandate.worker.audit import audit_directory

    catalogue = _catalogue(apps, directory)
    unready = [
        a
        for folder in catalogue.folders
        for a in audit_directory(folder, tools=registry, workflows=catalogue.workflows)
        if not a.ready
    ]
    for audit in unready:
        failed = next(c for c in audit.checks if not c.ok)
        detail = failed.detail if audit.path in failed.detail else f"{audit.path}: {failed.detail}"
        message = f"{audit.agent} is not ready for production ({failed.question}: {detail})"
        if not allow_unready:
            fail(f"{message}; run `mandate audit`, fix the charter, or start with --allow-unready")
        typer.echo(f"warning: serving {message} because of --allow-unready", err=True)
    return _charters(apps, directory)


async def _client(address: str | None) -> Client:
    from mandate.client import connect

    return await connect(address, identity=_identity())


def _identity() -> str:
    """Who sends: Temporal records it in the history beside every signal and update (the incident report shows it)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001  (no user name in some containers)
        user = "unknown"
    return f"mandate-cli:{user}@{socket.gethostname()}"


@app.callback()
def _main(
    log_format: Annotated[str, typer.Option("--log-format", help="console or json")] = "console",
    log_level: Annotated[str, typer.Option("--log-level")] = "WARNING",
) -> None:
    if log_format not in ("console", "json"):
        fail("--log-format must be console or json")
    configure_logging(log_format, log_level)


# --------------------------------------------------------------------------- servers and workers


@app.command()
def dev(
    db: Annotated[Path | None, typer.Option(help="SQLite file [default: $MANDATE_HOME/temporal.db]")] = None,
    port: Annotated[int, typer.Option(help="frontend gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Web UI port")] = 8233,
    charters: ChartersOpt = None,
    allow_unready: AllowUnreadyOpt = False,
    apps: AppOpt = None,
) -> None:
    """Embedded dev server + Web UI + worker in the foreground; Ctrl-C stops all three."""
    settings = load_settings()
    served = _ready_charters(apps, charters, allow_unready)
    db_path = db or settings.server_db

    async def main() -> None:
        from mandate.worker import build_worker, start_dev_server, start_monitors

        env = await start_dev_server(db=db_path, port=port, ui_port=ui_port)
        try:
            w = build_worker(env.client, task_queue=settings.task_queue, charters=served)
            await start_monitors(env.client, served, task_queue=settings.task_queue)
            console.print(f"Temporal dev server on localhost:{port} (state in {db_path})")
            console.print(f"Web UI: http://localhost:{ui_port}/namespaces/default/workflows")
            console.print(
                f"worker on task queue {settings.task_queue!r} serving: {', '.join(sorted(served))}"
            )
            console.print("Ctrl-C to stop.")
            await _run_until_stopped(w)
        finally:
            await env.shutdown()
        console.print("stopped.")

    run(main)


@app.command(name="worker")
def worker_cmd(
    charters: ChartersOpt = None,
    address: AddressOpt = None,
    allow_unready: AllowUnreadyOpt = False,
    apps: AppOpt = None,
) -> None:
    """Worker only, against TEMPORAL_ADDRESS; SIGINT/SIGTERM stop it after in-flight tasks."""
    settings = load_settings()
    served = _ready_charters(apps, charters, allow_unready)

    async def main() -> None:
        from mandate.worker import build_worker, start_monitors

        client = await _client(address)
        w = build_worker(client, task_queue=settings.task_queue, charters=served)
        await start_monitors(client, served, task_queue=settings.task_queue)
        console.print(f"worker on task queue {settings.task_queue!r} serving: {', '.join(sorted(served))}")
        await _run_until_stopped(w)

    run(main)


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

        client = await _client(address)
        added = await register_search_attributes(client)
        console.print(
            f"added search attributes: {', '.join(added)}"
            if added
            else "search attributes already registered"
        )

    run(main)


# --------------------------------------------------------------------------- runs


@app.command()
def start(
    agent: str,
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
    served = _charters(apps, charters)
    settings = load_settings()

    async def main() -> str:
        client = await _client(address)
        return await api.start_agent(
            client,
            served,
            agent,
            input=payload,
            requested_by=requested_by,
            task_queue=settings.task_queue,
            workflow_id=id,
        )

    print(run(main))


@app.command()
def status(workflow_id: str, as_json: JsonOpt = False, address: AddressOpt = None) -> None:
    """State, steps, pending approvals and owners of one run."""

    async def main() -> Any:
        return await api.get_status(await _client(address), workflow_id)

    result = run(main)
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        show_status(result)


@app.command()
def pending(
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    as_json: JsonOpt = False,
    address: AddressOpt = None,
) -> None:
    """Every pending approval request across running workflows."""

    async def main() -> list[api.PendingApproval]:
        return await api.list_pending(await _client(address), agent=agent)

    items = run(main)
    if as_json:
        print_json(
            [
                {"workflow_id": p.workflow_id, "agent": p.agent, **p.request.model_dump(mode="json")}
                for p in items
            ]
        )
    else:
        show_pending(items)


def _decide(
    kind: DecisionKind,
    workflow_id: str,
    request: str | None,
    approver: str,
    reason: str,
    address: str | None,
    timeout: float,
) -> None:
    async def main() -> Any:
        return await api.decide(
            await _client(address),
            workflow_id,
            decision=kind,
            approver=approver,
            reason=reason,
            request_id=request,
            timeout=timedelta(seconds=timeout),
        )

    decision = run(main)
    verb = "approved" if kind is DecisionKind.APPROVE else "rejected"
    console.print(f"{verb} {decision.request_id} of {workflow_id} as {decision.approver}")


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
        client = await _client(address)
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(item: BatchItem) -> tuple[BatchItem, str | None]:
            async with gate:
                try:
                    await api.decide(
                        client,
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
        console.print(f"refused {item.request_id} of {item.workflow_id}: {why}", markup=False)
    console.print(f"{verb} {len(outcomes) - len(refused)} of {len(outcomes)} request(s) as {approver}")
    if refused:
        fail(f"{len(refused)} of {len(outcomes)} decision(s) refused (listed above); the others were taken")


BATCH_CONCURRENCY = 20
RequestOpt = Annotated[str | None, typer.Option("--request", help="request id; optional when one is pending")]
AsOpt = Annotated[str, typer.Option("--as", help="who decides (must be an approver in the charter)")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds to wait for a worker to answer")]


WorkflowArg = Annotated[str | None, typer.Argument(help="the run; leave out with --batch")]
BatchOpt = Annotated[
    Path | None,
    typer.Option("--batch", help="decide every request listed in this file (as `mandate pending --json` writes it)"),
]


@app.command()
def approve(
    approver: AsOpt,
    workflow_id: WorkflowArg = None,
    request: RequestOpt = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    batch: BatchOpt = None,
    address: AddressOpt = None,
    timeout: TimeoutOpt = 20.0,
) -> None:
    """Approve a pending request (errors come back at once), or every request in a --batch file."""
    _decide_one_or_batch(DecisionKind.APPROVE, workflow_id, request, batch, approver, reason, address, timeout)


@app.command()
def reject(
    approver: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="why (required)")],
    workflow_id: WorkflowArg = None,
    request: RequestOpt = None,
    batch: BatchOpt = None,
    address: AddressOpt = None,
    timeout: TimeoutOpt = 20.0,
) -> None:
    """Reject a pending request, or every request in a --batch file."""
    if not reason.strip():
        fail("--reason must say why")
    _decide_one_or_batch(DecisionKind.REJECT, workflow_id, request, batch, approver, reason, address, timeout)


def _decide_one_or_batch(
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


@app.command()
def kill(
    agent: str,
    by: Annotated[str, typer.Option("--as", help="the agent's stop/go owner")],
    reason: Annotated[str, typer.Option("--reason", help="why (required)")],
    workflow: Annotated[str | None, typer.Option("--workflow", help="stop only this run")] = None,
    rollback: Annotated[bool, typer.Option("--rollback", help="undo completed writes, newest first")] = False,
    as_json: JsonOpt = False,
    address: AddressOpt = None,
) -> None:
    """Stop an agent: pause new starts and cancel (or roll back) its running runs."""
    if not reason.strip():
        fail("--reason must say why")

    async def main() -> Any:
        return await api.kill_agent(
            await _client(address), agent, by=by, reason=reason, rollback=rollback, workflow_id=workflow
        )

    decision = run(main)
    if as_json:
        print_json(decision.model_dump(mode="json"))
        return
    scope = f"run {workflow}" if workflow else f"{agent} paused; new starts refused"
    console.print(f"{scope}; {decision.action}: {len(decision.workflows)} running run(s) told to stop")
    for wf in decision.workflows:
        console.print(f"  {wf}")


@app.command()
def resume(
    agent: str,
    by: Annotated[str, typer.Option("--as", help="the agent's stop/go owner")],
    reason: Annotated[str, typer.Option("--reason", help="why it is safe again")],
    address: AddressOpt = None,
) -> None:
    """Lift a stop (stop/go owner only); the monitor then judges only runs started from now on."""
    if not reason.strip():
        fail("--reason must say why")

    async def main() -> Any:
        return await api.resume_agent(await _client(address), agent, by=by, reason=reason)

    state = run(main)
    console.print(
        f"{agent} resumed by {by}; the monitor judges runs started since {state.since:%Y-%m-%d %H:%M:%S}"
    )


@app.command()
def metrics(
    agent: Annotated[str | None, typer.Option("--agent", help="one agent [default: every charter]")] = None,
    window: Annotated[str, typer.Option("--window", help="e.g. 15m, 1h, 1d")] = "1h",
    as_json: JsonOpt = False,
    charters: ChartersOpt = None,
    address: AddressOpt = None,
    apps: AppOpt = None,
) -> None:
    """The five outcome metrics per agent over a window, from Temporal visibility."""
    from mandate.durations import parse_duration

    try:
        span = parse_duration(window)
    except ValueError as err:
        fail(f"--window: {err}")
    agents = [agent] if agent else sorted(_charters(apps, charters))

    async def main() -> list[Any]:
        from mandate.activities.metrics import compute_metrics
        from mandate.outcomes import MetricsQuery

        client = await _client(address)
        return [
            await compute_metrics(client, MetricsQuery(agent=a, window_seconds=span.total_seconds()))
            for a in agents
        ]

    results = run(main)
    if as_json:
        data = [m.model_dump(mode="json") for m in results]
        print_json(data[0] if agent else data)
    else:
        show_metrics(results)


@app.command()
def audit(charters: ChartersOpt = None, as_json: JsonOpt = False, apps: AppOpt = None) -> None:
    """Readiness check of every charter: five questions, one verdict each; non-zero when any agent fails."""
    import dataclasses

    from mandate.tools import registry
    from mandate.worker.audit import audit_directory, render_audit

    catalogue = _catalogue(apps, charters)
    try:
        results = [
            a
            for folder in catalogue.folders
            for a in audit_directory(folder, tools=registry, workflows=catalogue.workflows)
        ]
    except MandateError as err:
        fail(str(err))
    if not results:
        fail(f"no charter (*.toml) in {', '.join(map(str, catalogue.folders)) or 'any charters folder'}")
    if as_json:
        print_json([{**dataclasses.asdict(a), "ready": a.ready} for a in results])
    else:
        for result in results:
            for line in render_audit(result):
                print(line)
    if not all(a.ready for a in results):
        raise typer.Exit(1)


@app.command()
def replay(
    workflow_id: Annotated[str | None, typer.Argument(help="a run to fetch from the server")] = None,
    history: Annotated[
        Path | None, typer.Option("--history", help="a history JSON file (UI download or CLI -o json)")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="write the report to FILE.md or FILE.html")
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="replay every closed run of this agent")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="with --agent: runs closed within, e.g. 24h, 7d")
    ] = "24h",
    address: AddressOpt = None,
    apps: AppOpt = None,
) -> None:
    """Replay a run against today's code and write its incident report; or check many runs with --agent."""
    from mandate.review import build_report, load_history_file, render_html, render_markdown, replay_history
    from mandate.review.service import fetch_history, kill_evidence, replay_recent
    from mandate.worker.agents import replayable_workflows

    workflows = replayable_workflows(_catalogue(apps, None).workflows)

    chosen = [x for x in (workflow_id, history, agent) if x]
    if len(chosen) != 1:
        fail("give exactly one of WORKFLOW_ID, --history FILE or --agent AGENT")
    if report is not None and report.suffix.lower() not in (".md", ".html", ".htm"):
        fail("--report must end in .md or .html")

    if agent:
        from mandate.durations import parse_duration

        try:
            window = parse_duration(since)
        except ValueError as err:
            fail(f"--since: {err}")

        async def bulk() -> Any:
            return await replay_recent(await _client(address), agent, window, workflows)

        summary = run(bulk)
        console.print(
            f"{agent}: {summary.clean} of {summary.replayed} run(s) closed since "
            f"{summary.since:%Y-%m-%d %H:%M} UTC replay cleanly against today's code"
        )
        for wf, why in summary.failures:
            console.print(f"  [red]diverges[/] {wf}: {why[:300]}")
        if summary.failures:
            raise typer.Exit(1)
        return

    async def one() -> Any:
        evidence: list[Any] = []
        if history is not None:
            events = load_history_file(history)
        else:
            client = await _client(address)
            events = await fetch_history(client, workflow_id or "")
        outcome = await replay_history(events, workflows)
        if history is None and outcome.status and outcome.status.killed:
            evidence = await kill_evidence(client, outcome.status.agent, outcome.workflow_id)
        return outcome, build_report(events, outcome, evidence)

    outcome, incident = run(one)
    text = (
        render_html(incident)
        if report and report.suffix.lower() in (".html", ".htm")
        else render_markdown(incident)
    )
    if report is None:
        print(text)
    else:
        report.write_text(text, encoding="utf-8")
        console.print(f"report written to {report}")
    if outcome.reproduced:
        typer.echo(f"replay: {outcome.workflow_id} replays cleanly against today's code", err=True)
    else:
        typer.echo(
            f"error: nondeterminism: {outcome.workflow_id} diverges from today's code: {outcome.failure}",
            err=True,
        )
        raise typer.Exit(1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="frontend gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Web UI port")] = 8233,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="stop when the story is told instead of serving the UI")
    ] = False,
    charters: ChartersOpt = None,
    apps: AppOpt = None,
) -> None:
    """The whole loop on the embedded server, narrated."""
    from mandate.cli._demo import tell

    served = _charters(apps, charters)
    run(lambda: tell(served, port=port, ui_port=ui_port, keep_serving=not exit_after and sys.stdin.isatty()))
