"""The report: the headline figures, the table on stdout, the targets shown beside them (never asserted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.measures.kill import growth_exponent

__all__ = ["TARGETS", "headline", "render"]

TARGETS = {
    "overhead_ratio_max": 1.15,
    "approval_latency_within_of_plain": 0.10,
    "waiting_runs": 5000,
    "waiting_rss_mb_max": 1024,
    "kill_growth_exponent_max": 1.0,
    "replay_events_per_s_min": 5000,
}


def headline(b: dict[str, Any]) -> dict[str, Any]:
    """The flat figures the READMEs quote, from the sections that ran."""
    out: dict[str, Any] = {}
    if o := b.get("overhead"):
        gov, plain = o["governed"], o["plain"]
        out.update(
            plain_wf_per_s=plain["wf_per_s"],
            governed_wf_per_s=gov["wf_per_s"],
            overhead_ratio=o["overhead_ratio"],
            overhead_ratio_iqr=[o["overhead_ratio_rounds"].get("q1"), o["overhead_ratio_rounds"].get("q3")],
            overhead_ratio_ci95=o["overhead_ratio_rounds"].get("ci95"),
            overhead_rounds=o["rounds"],
            cpu_ratio=o["cpu_ratio"],
            utilisation=o["utilisation"],
            events_per_run={"plain": plain["history"]["events"], "governed": gov["history"]["events"]},
            visibility_writes_per_run={"plain": plain["history"]["visibility_writes"],
                                       "governed": gov["history"]["visibility_writes"]},
            load_mandate_marker_bytes=gov["history"]["load_mandate_marker_bytes"],
        )
    if lat := b.get("latency"):
        for side, prefix in (("governed", ""), ("plain", "plain_")):
            out[f"{prefix}approval_latency_ms_p50"] = lat[side]["under_load"]["p50_ms"]
            out[f"{prefix}approval_latency_ms_p95"] = lat[side]["under_load"]["p95_ms"]
            out[f"{prefix}approval_latency_ms_p50_alone"] = lat[side]["alone"]["p50_ms"]
    if waiting := b.get("waiting"):
        biggest = waiting[str(max(int(k) for k in waiting))]
        out.update(waiting_runs=biggest["runs"], waiting_worker_rss_mb=biggest["worker_rss_mb"],
                   waiting_server_rss_mb=biggest["server_rss_mb"], list_pending_s=biggest["list_pending_s"],
                   approve_all_s=biggest["approve_all_s"])
    if "kill" in b:
        kill = {n: v["kill_seconds"] for n, v in b["kill"].items()}
        out.update(kill_seconds_by_runs=kill, kill_growth_exponent=growth_exponent(kill))
    if rep := b.get("replay"):
        out.update(replay_events_per_s=rep["replay_events_per_s"], incident_report_s=rep.get("incident_report_s"))
    return out


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return f"{value}{unit}"


Getter = Callable[[dict[str, Any]], Any]


def at(*keys: str) -> Getter:
    """A getter for ``b[keys[0]][keys[1]]...`` of one back-end's results."""

    def get(b: dict[str, Any]) -> Any:
        for key in keys:
            b = b[key]
        return b

    return get


def joined(*parts: tuple[Getter, str], sep: str = " / ") -> Getter:
    """Several figures in one cell, each with its format."""
    return lambda b: sep.join(fmt.format(get(b)) for get, fmt in parts)


def _rounds(s: dict[str, Any]) -> str:
    text = f"{s['median']:.3f} (IQR {s['q1']:.3f}–{s['q3']:.3f}"
    if "ci95" in s:
        text += f"; mean {s['mean']:.3f}, 95% CI {s['ci95'][0]:.3f}–{s['ci95'][1]:.3f}"
    return text + f"; {s['n']} rounds)"


def render(report: dict[str, Any], console: Console) -> None:
    m = report["machine"]
    console.print(
        f"[bold]Mandate benchmarks[/bold] ({report['size']}) — {m['cores_usable']} usable cores, {m['ram_gib']} GiB, "
        f"Python {m['python']}, temporalio {m['temporalio']}, {m['temporal_cli']}; "
        f"load average at start {m['loadavg_at_start']}, at end {m.get('loadavg_at_end')}"
    )
    backends = report["backends"]
    names = list(backends)
    table = Table()
    table.add_column("measure")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("target")

    def row(label: str, get: Getter, unit: str = "", target: str = "") -> None:
        values = []
        for name in names:
            try:
                values.append(_fmt(get(backends[name]), unit))
            except (KeyError, TypeError, ZeroDivisionError, IndexError, ValueError):
                values.append("–")
        table.add_row(label, *values, target)

    def section(title: str, key: str) -> bool:
        if not any(key in b for b in backends.values()):
            return False
        table.add_row(f"[bold]{title}[/bold]", *[""] * (len(names) + 1))
        return True

    def sides(fmt: str, *keys: str) -> Getter:  # plain / governed, from the overhead section
        return joined((at("overhead", "plain", *keys), fmt), (at("overhead", "governed", *keys), fmt))

    t = TARGETS
    if section("overhead, saturated (2 reads + 1 approved write; plain / governed)", "overhead"):
        row("runs in flight", at("overhead", "in_flight"))
        row("utilisation of the cores (benchmark processes' CPU / wall / cores)", sides("{:.2f}", "utilisation"))
        row("  the machine's busy share over the same windows", sides("{:.2f}", "machine_busy"))
        row("runs per second", sides("{:.1f}", "wf_per_s"))
        row("overhead ratio, median of rounds", lambda b: _rounds(b["overhead"]["overhead_ratio_rounds"]), "",
            f"<= {t['overhead_ratio_max']}")
        row("  CPU ratio (worker + server CPU per run)", lambda b: _rounds(b["overhead"]["cpu_ratio_rounds"]))
        row("  worker CPU per run (ms)", sides("{:.1f}", "worker_cpu_ms_per_run"))
        row("  dev server CPU per run (ms)", sides("{:.1f}", "server_cpu_ms_per_run"))
        row("  client CPU per run (ms, its own process)", sides("{:.1f}", "client_cpu_ms_per_run"))
        row("  history events per run", sides("{:g}", "history", "events"))
        row("  history bytes per run", sides("{:.0f}", "history", "history_bytes"))
        row("  workflow tasks per run", sides("{:g}", "history", "workflow_tasks"))
        row("  visibility writes per run (start + upserts + close)", sides("{:g}", "history", "visibility_writes"))
        gov = ("overhead", "governed", "history")
        row("  load_mandate marker: event / payload bytes",
            joined((at(*gov, "load_mandate_marker_bytes"), "{:.0f}"), (at(*gov, "load_mandate_payload_bytes"), "{:.0f}")))
        row("  start call p50 (ms; governed: api.start_agent)", sides("{:.1f}", "start_call_ms_p50"))
        row("  decision call p50 (ms; governed: api.decide)", sides("{:.1f}", "decision_call_ms_p50"))
        for side in ("input-mandate", "governed-direct"):
            if any(side in b.get("overhead", {}) for b in backends.values()):
                row(f"  --profile {side}: ratio to plain; events; worker CPU ms",
                    joined((at("overhead", side, "ratio_to_plain", "median"), "{:.3f}"),
                           (at("overhead", side, "history", "events"), "{:g}"),
                           (at("overhead", side, "worker_cpu_ms_per_run"), "{:.1f}"), sep="; "))
    if section("approval latency (decision sent → write starts), plain / governed", "latency"):
        within = f"governed within {t['approval_latency_within_of_plain']:.0%} of plain"
        for load in ("under_load", "alone"):
            for q in ("p50_ms", "p95_ms"):
                row(f"{load.replace('_', ' ')} {q[:3]}", joined((at("latency", "plain", load, q), "{:.1f}"),
                                                              (at("latency", "governed", load, q), "{:.1f}")),
                    " ms", within)
        if any("governed-direct" in b.get("latency", {}) for b in backends.values()):
            row("  --profile: governed approved by signal (governed-direct), under load p50",
                at("latency", "governed-direct", "under_load", "p50_ms"), " ms")
    if section("waiting for approval at scale (governed worker process)", "waiting"):
        for k in sorted({int(k) for b in backends.values() for k in b.get("waiting", {})}):
            w = ("waiting", str(k))
            row(f"{k} waiting: worker RSS (before)",
                joined((at(*w, "worker_rss_mb"), "{}"), (at(*w, "worker_rss_mb_before"), "({})"), sep=" "),
                " MB", f"< {t['waiting_rss_mb_max']} MB at {t['waiting_runs']:,}")
            row("  dev server RSS", at(*w, "server_rss_mb"), " MB")
            row("  mandate.api.list_pending", at(*w, "list_pending_s"), " s")
            row("  approve all (api.decide); until complete",
                joined((at(*w, "approve_all_s"), "{} s"), (at(*w, "approve_all_until_complete_s"), "{} s"), sep="; "))
    if section("kill with rollback (api.kill_agent → every run rolled back)", "kill"):
        for n in sorted({int(n) for b in backends.values() for n in b.get("kill", {})}):
            row(f"{n} runs", at("kill", str(n), "kill_seconds"), " s")
        row("growth exponent (time ∝ runs^x)", at("kill_growth_exponent"), "", f"<= {t['kill_growth_exponent_max']}")
    if section("replay (one long governed history)", "replay"):
        row("history events", at("replay", "events"))
        row("events / s, as `mandate replay` (warm; cold)",
            joined((at("replay", "replay_events_per_s"), "{:,.0f}"), (at("replay", "replay_events_per_s_cold"), "{:,.0f}"),
                   sep="; "), "", f"> {t['replay_events_per_s_min']:,}")
        row("events / s, the SDK's sandboxed Replayer", at("replay", "replay_events_per_s_sandboxed"))
        row("incident report (replay, build, render)", at("replay", "incident_report_s"), " s")
    console.print(table)
    for name, b in backends.items():
        console.print(f"{name}: {b['elapsed_s']} s")
    for note in [f"{name}: {n}" for name, b in backends.items() for n in b["notes"]] + report["notes"]:
        console.print(f"note: {note}")
