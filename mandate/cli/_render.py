"""How the CLI shows things: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from mandate.api import PendingApproval
from mandate.run import AgentStatus

__all__ = ["console", "print_json", "show_status", "show_pending", "show_metrics", "short_args"]

console = Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def short_args(args: dict[str, Any], width: int = 70) -> str:
    text = json.dumps(args, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def show_status(status: AgentStatus) -> None:
    console.print(
        f"[bold]{status.workflow_id}[/]  agent [cyan]{status.agent}[/]  state [bold]{status.state.value}[/]"
    )
    console.print(f"requested by {status.requested_by}   input {short_args(status.input)}")
    if status.owners:
        o = status.owners
        console.print(
            f"owners: workflow {o.workflow}, risk {o.risk}, quality {o.quality}, stop/go {o.stop_go}"
        )
    if status.outcome:
        console.print(f"outcome: [bold]{status.outcome}[/] — {status.summary}")
    if status.killed:
        k = status.killed
        console.print(
            f"[bold red]killed[/] by {k.by} via {k.channel.value} at {k.at:%Y-%m-%d %H:%M:%S}: {k.reason}"
            + (" (rollback)" if k.rollback else "")
        )
    if status.compensations:
        table = Table(title="completed writes and their compensation", title_justify="left")
        for col in ("step", "tool", "undone by", "status"):
            table.add_column(col)
        for c in status.compensations:
            detail = (
                c.status
                + (f": {c.error}" if c.error else "")
                + (f" ({c.irreversible})" if c.irreversible else "")
            )
            table.add_row(str(c.step), c.tool, c.compensation or "-", detail)
        console.print(table)
    console.print(
        f"cost {status.cost:.3f}   violations {status.violations}   rejections {status.rejections}   "
        f"escalations {status.escalations}   refused decisions {status.refused_total}"
    )
    steps = Table(title="steps", title_justify="left")
    for col in ("#", "tool", "authority", "policy", "status", "detail"):
        steps.add_column(col, overflow="fold" if col == "tool" else "ellipsis")
    for s in status.steps:
        detail = s.error or (short_args(s.result, 50) if s.result else "")
        steps.add_row(
            str(s.index),
            s.tool,
            s.authority.value if s.authority else "?",
            s.policy.value,
            s.status.value,
            detail,
        )
    console.print(steps)
    if status.pending:
        _pending_table([PendingApproval(status.workflow_id, status.agent, r) for r in status.pending])
    if status.decisions:
        table = Table(title="decisions", title_justify="left")
        for col in ("request", "decision", "by", "via", "at", "reason"):
            table.add_column(col)
        for d in status.decisions:
            table.add_row(
                d.request_id, d.kind.value, d.approver, d.channel.value, f"{d.at:%Y-%m-%d %H:%M:%S}", d.reason
            )
        console.print(table)
    if status.refused:
        table = Table(title=f"refused decisions ({status.refused_total})", title_justify="left")
        for col in ("at", "via", "kind", "approver", "why refused"):
            table.add_column(col)
        for r in status.refused:
            table.add_row(f"{r.at:%H:%M:%S}", r.channel.value, r.kind, r.approver or "-", r.reason)
        console.print(table)


def _pending_table(items: list[PendingApproval]) -> None:
    table = Table(title="pending approvals", title_justify="left")
    # Ids and tool names are what a person copies next: keep each whole on one line; the rest may wrap.
    widest = {
        "workflow": max(len(p.workflow_id) for p in items),
        "request": max(len(p.request.id) for p in items),
        "tool": max(len(p.request.tool) for p in items),
    }
    for col, width in widest.items():
        table.add_column(col, no_wrap=True, min_width=max(width, len(col)))
    for col in ("arguments", "args hash", "approvers", "deadline"):
        table.add_column(col)
    for p in items:
        r = p.request
        approvers = ", ".join(r.eligible) + (" (escalated)" if r.escalated else "")
        table.add_row(
            p.workflow_id,
            r.id,
            r.tool,
            short_args(r.args, 60),
            r.args_hash[7:19],
            approvers,
            f"{r.deadline:%Y-%m-%d %H:%M}",
        )
    console.print(table)


def show_pending(items: list[PendingApproval]) -> None:
    if not items:
        console.print("no pending approvals")
        return
    _pending_table(items)


def show_metrics(results: list[Any]) -> None:
    table = Table(title="outcome metrics", title_justify="left")
    for col in (
        "agent",
        "window",
        "runs",
        "completed",
        "throughput/h",
        "rework",
        "exceptions",
        "escalations",
        "cost/completed",
    ):
        table.add_column(col)
    for m in results:
        span = m.window_end - m.window_start
        table.add_row(
            m.agent,
            f"{span.total_seconds() / 60:.0f}m",
            str(m.runs),
            str(m.completed),
            f"{m.throughput_per_hour:.2f}",
            f"{m.rework_rate:.0%} ({m.rework_runs})",
            f"{m.exception_rate:.0%} ({m.exception_runs})",
            f"{m.escalation_rate:.0%} ({m.escalated_runs})",
            f"{m.cost_per_completed:.4f}",
        )
    console.print(table)
