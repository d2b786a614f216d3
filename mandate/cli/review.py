"""Review: `mandate audit` (is each agent ready?) and `mandate replay` (does today's code reproduce a run?)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mandate.cli._agents import audits, catalogue, render_audit
from mandate.cli._render import console, esc, print_json, print_lines
from mandate.cli._safe import safe_text
from mandate.cli.app import AddressOpt, AppOpt, ChartersOpt, JsonOpt, app, client, error_line, fail, run


@app.command()
def audit(charters: ChartersOpt = None, as_json: JsonOpt = False, apps: AppOpt = None) -> None:
    """Readiness check of every charter: five questions, one verdict each; non-zero when any agent fails."""
    import dataclasses

    found = catalogue(apps, charters)
    results = audits(found)
    if not results:
        fail(f"no charter (*.toml) in {', '.join(map(str, found.folders)) or 'any charters folder'}")
    if as_json:
        print_json([{**dataclasses.asdict(a), "ready": a.ready} for a in results])
    else:
        for result in results:
            for line in render_audit(result):
                print(safe_text(line))
    if not all(a.ready for a in results):
        raise typer.Exit(1)


@app.command()
def replay(
    workflow_id: Annotated[str | None, typer.Argument(metavar="WORKFLOW_ID", help="a run to fetch from the server")] = None,
    history: Annotated[
        Path | None, typer.Option("--history", help="a history JSON file (UI download or CLI -o json)")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="write the report to FILE.md or FILE.html")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="replay every closed run of this agent")] = None,
    since: Annotated[str, typer.Option("--since", help="with --agent: runs closed within, e.g. 24h, 7d")] = "24h",
    as_json: Annotated[
        bool, typer.Option("--json", help="print the verdict as JSON (the report goes only to --report)")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="also print the SDK's own text of a divergence, and its core's log")
    ] = False,
    address: AddressOpt = None,
    apps: AppOpt = None,
) -> None:
    """Replay a run against today's code and write its incident report; or check many runs with --agent."""
    from mandate.review import build_report, load_history_file, render_html, render_markdown, replay_history
    from mandate.review.service import fetch_history, kill_evidence, replay_recent
    from mandate.worker.agents import replayable_workflows

    chosen = [x for x in (workflow_id, history, agent) if x]
    if len(chosen) != 1:
        fail("give exactly one of WORKFLOW_ID, --history FILE or --agent AGENT")
    if report is not None and report.suffix.lower() not in (".md", ".html", ".htm"):
        fail("--report must end in .md or .html")
    workflows = replayable_workflows(catalogue(apps, None).workflows)

    if agent:
        from mandate.durations import parse_duration

        try:
            window = parse_duration(since)
        except ValueError as err:
            fail(f"--since: {err}")

        async def bulk() -> Any:
            return await replay_recent(await client(address), agent, window, workflows, verbose=verbose)

        summary = run(bulk)
        if as_json:
            print_json(
                {
                    "agent": summary.agent,
                    "since": summary.since.isoformat(),
                    "replayed": summary.replayed,
                    "clean": summary.clean,
                    "failures": [
                        {"workflow_id": wf, "failure": why, **({"detail": summary.details[wf]} if verbose else {})}
                        for wf, why in summary.failures
                    ],
                }
            )
            if summary.failures:
                raise typer.Exit(1)
            return
        console.print(
            f"{esc(agent)}: {summary.clean} of {summary.replayed} run(s) closed since "
            f"{summary.since:%Y-%m-%d %H:%M} UTC replay cleanly against today's code"
        )
        for wf, why in summary.failures:
            console.print(f"  [red]diverges[/] {esc(wf)}: {esc(why[:300])}")
            if verbose:
                console.print(f"    {esc(summary.details[wf])}")
        if summary.failures:
            raise typer.Exit(1)
        return

    async def one() -> Any:
        evidence: list[Any] = []
        if history is not None:
            events = load_history_file(history)
        else:
            connected = await client(address)
            events = await fetch_history(connected, workflow_id or "")
        outcome = await replay_history(events, workflows, verbose=verbose)
        if history is None and outcome.status and outcome.status.killed:
            evidence = await kill_evidence(connected, outcome.status.agent, outcome.workflow_id)
        return outcome, build_report(events, outcome, evidence)

    outcome, incident = run(one)
    html = report is not None and report.suffix.lower() in (".html", ".htm")
    text = render_html(incident) if html else render_markdown(incident)
    if as_json:
        print_json(
            {
                "workflow_id": outcome.workflow_id,
                "run_id": outcome.run_id,
                "workflow_type": outcome.workflow_type,
                "replays_cleanly": outcome.reproduced,
                "failure": outcome.failure,
                **({"detail": outcome.detail} if verbose else {}),
                "report": str(report) if report is not None else None,
            }
        )
    if report is None:
        if not as_json:
            print_lines(text)
    else:
        try:
            report.write_text(text, encoding="utf-8")
        except OSError as err:
            fail(f"--report: cannot write {report}: {err.strerror or err}")
        console.print(f"report written to {esc(report)}")
    if outcome.reproduced:
        typer.echo(f"replay: {safe_text(outcome.workflow_id)} replays cleanly against today's code", err=True)
    else:
        if verbose and outcome.detail:
            typer.echo(f"detail: {safe_text(outcome.detail)}", err=True)
        error_line(f"nondeterminism: {outcome.workflow_id} diverges from today's code: {outcome.failure}")
        raise typer.Exit(1)
