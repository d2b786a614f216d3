"""The fleet: `mandate kill`, `mandate resume`, `mandate metrics`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mandate import api
from mandate.cli._agents import catalogue, charters_of
from mandate.cli._render import console, esc, print_json, show_metrics
from mandate.cli.app import AddressOpt, AppOpt, ChartersOpt, JsonOpt, app, client, error_line, fail, run
from mandate.settings import load_settings

AgentArg = Annotated[str, typer.Argument(metavar="AGENT", help="the agent's name, as its charter names it")]


@app.command()
def kill(
    agent: AgentArg,
    by: Annotated[str, typer.Option("--as", help="the agent's stop/go owner")],
    reason: Annotated[str, typer.Option("--reason", help="why")],
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
            await client(address), agent, by=by, reason=reason, rollback=rollback, workflow_id=workflow
        )

    decision = run(main)
    if as_json:
        print_json(decision.model_dump(mode="json"))
    else:
        scope = f"run {esc(workflow)}" if workflow else f"{esc(agent)} paused; new starts refused"
        console.print(f"{scope}; {esc(decision.action)}: {len(decision.workflows)} running run(s) told to stop")
        for wf in decision.workflows:
            console.print(f"  {esc(wf)}")
    if decision.unreachable:  # named, one line each, and the command fails: someone must look at these
        for line in decision.unreachable:
            error_line(f"not reached: {' '.join(line.split())}")
        raise typer.Exit(1)


@app.command()
def resume(
    agent: AgentArg,
    by: Annotated[str, typer.Option("--as", help="the agent's stop/go owner")],
    reason: Annotated[str, typer.Option("--reason", help="why it is safe again")],
    as_json: JsonOpt = False,
    address: AddressOpt = None,
) -> None:
    """Lift a stop (stop/go owner only); the monitor then judges only runs started from now on."""
    if not reason.strip():
        fail("--reason must say why")

    async def main() -> Any:
        return await api.resume_agent(await client(address), agent, by=by, reason=reason)

    state = run(main)
    if as_json:
        print_json(state.model_dump(mode="json"))
        return
    console.print(
        f"{esc(agent)} resumed by {esc(by)}; the monitor judges runs started since {state.since:%Y-%m-%d %H:%M:%S}"
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
    chartered = charters_of(catalogue(apps, charters))
    agents = [agent] if agent else sorted(chartered)
    queue = load_settings().task_queue

    async def main() -> list[Any]:
        from mandate.activities.metrics import compute_metrics
        from mandate.outcomes import MetricsQuery

        connected = await client(address)
        return [
            await compute_metrics(
                connected,
                MetricsQuery(
                    agent=a,
                    window_seconds=span.total_seconds(),
                    workflow_type=chartered[a].workflow if a in chartered else None,
                    task_queue=queue,
                ),
            )
            for a in agents
        ]

    results = run(main)
    if as_json:
        data = [m.model_dump(mode="json") for m in results]
        print_json(data[0] if agent else data)
    else:
        show_metrics(results)
