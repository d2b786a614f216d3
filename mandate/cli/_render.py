"""How the CLI shows things: text for people that stays readable at 80 columns, JSON for scripts.

Everything a user or a run chose (names, reasons, arguments, ids) is printed as plain text, never as
rich markup: ``esc`` for the markup strings, ``cell`` for table cells, ``plain`` for whole lines, and no
emoji codes. Each of them passes the text through ``safe_text`` (``mandate.cli._safe``) first, as
``print_json`` does through ``json_safe``: no control character or bidirectional override a sender chose
reaches the terminal.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mandate.api import PendingApproval
from mandate.cli._safe import json_safe, safe_text

__all__ = [
    "console",
    "esc",
    "cell",
    "print_json",
    "print_lines",
    "plain",
    "fields",
    "wrapped",
    "short_args",
    "show_pending",
    "pending_blocks",
    "show_metrics",
    "WIDE",
]

console = Console(highlight=False, soft_wrap=True, emoji=False)

#: From this width on, listings are tables with one row per item; below it, one block per item.
WIDE = 140


def esc(value: object) -> str:
    """``value`` as text that rich prints as it is, whatever brackets or control characters it holds."""
    return escape(safe_text(value))


def cell(value: object, style: str = "") -> Text:
    """A table cell printed as it is (a str cell would be read as markup)."""
    return Text(safe_text(value), style=style)


def print_json(data: Any) -> None:
    """JSON for scripts: the raw text, with what would act on a terminal in JSON's own escapes."""
    print(json_safe(json.dumps(data, indent=2, default=str, ensure_ascii=False)))


def print_lines(text: str) -> None:
    """A document (a report, an audit) printed as it is, its line breaks kept, nothing else that acts."""
    print(safe_text(text, lines=True))


def short_args(args: dict[str, Any], width: int = 70) -> str:
    text = json.dumps(args, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def _full_args(args: dict[str, Any], limit: int = 600) -> str:
    return short_args(args, limit)


def show_pending(items: list[PendingApproval]) -> None:
    if not items:
        console.print("no pending approvals")
        return
    if console.width >= WIDE:
        _pending_table(items)
    else:
        console.print(f"[bold]pending approvals[/] ({len(items)})")
        pending_blocks(items)


def plain(text: str) -> None:
    """Print one line as it is: no markup, no highlighting, no control character."""
    console.print(safe_text(text), markup=False, highlight=False)


def fields(rows: list[tuple[str, str]], *, indent: int = 2) -> None:
    """``label  value`` lines; a long value wraps under itself, within the terminal's width."""
    width = max(len(label) for label, _ in rows)
    room = max(20, console.width - indent - width - 2)
    pad = " " * (indent + width + 2)
    for label, value in rows:
        if " " not in value and len(value) > room:
            # One long token (a hash, an id) is never cut: it goes whole on a line of its own.
            plain(f"{' ' * indent}{label}")
            plain(f"{' ' * (indent + 2)}{value}")
            continue
        lines = textwrap.wrap(value, room, break_long_words=False, break_on_hyphens=False) or [""]
        plain(f"{' ' * indent}{label:<{width}}  {lines[0]}")
        for more in lines[1:]:
            plain(pad + more)


def wrapped(text: str, *, indent: int, hanging: int | None = None) -> None:
    """A paragraph indented by ``indent`` (its later lines by ``hanging``), wrapped to the terminal's width."""
    later = indent if hanging is None else hanging
    lines = textwrap.wrap(
        text,
        max(20, console.width),
        initial_indent=" " * indent,
        subsequent_indent=" " * later,
        break_long_words=False,
        break_on_hyphens=False,
    )
    for line in lines:
        plain(line)


def pending_blocks(items: list[PendingApproval], *, with_run: bool = True) -> None:
    """One block per request: what a person needs to decide it, each field wrapped under its label."""
    for p in items:
        r = p.request
        head = f"{esc(p.workflow_id)}  " if with_run else "  "
        console.print(f"\n{head}[bold]{esc(r.id)}[/] {esc(r.tool)}  ({esc(r.authority.value)}, step {r.step})")
        approvers = ", ".join(r.eligible) + ("  (escalated)" if r.escalated else "")
        rows = [
            ("arguments", _full_args(r.args)),
            ("args hash", r.args_hash),
            ("approvers", approvers),
            ("requested", f"by {r.requested_by} at {r.requested_at:%Y-%m-%d %H:%M} UTC"),
            ("deadline", f"{r.deadline:%Y-%m-%d %H:%M} UTC"),
        ]
        if with_run and p.agent:
            rows.insert(0, ("agent", p.agent))
        fields(rows, indent=4 if not with_run else 2)


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
        table.add_column(col, overflow="fold")
    for p in items:
        r = p.request
        approvers = ", ".join(r.eligible) + (" (escalated)" if r.escalated else "")
        table.add_row(
            cell(p.workflow_id),
            cell(r.id),
            cell(r.tool),
            cell(short_args(r.args, 60)),
            cell(r.args_hash[7:19]),
            cell(approvers),
            cell(f"{r.deadline:%Y-%m-%d %H:%M}"),
        )
    console.print(table)


def _counted(m: Any) -> str:
    """What the exception rate counted: "1 of 1 runs: 1 policy violation"."""
    causes = ", ".join(f"{n} {cause}" for cause, n in getattr(m, "exception_causes", {}).items())
    return f"{m.exception_runs} of {m.runs} runs" + (f": {causes}" if causes and m.exception_runs else "")


def show_metrics(results: list[Any]) -> None:
    """One table when it fits, else one block per agent."""
    rows = []
    for m in results:
        span = m.window_end - m.window_start
        rows.append(
            (
                m.agent,
                f"{span.total_seconds() / 60:.0f}m",
                str(m.runs),
                str(m.completed),
                f"{m.throughput_per_hour:.2f}",
                f"{m.rework_rate:.0%} ({m.rework_runs})",
                f"{m.exception_rate:.0%} ({_counted(m)})",
                f"{m.escalation_rate:.0%} ({m.escalated_runs})",
                f"{m.cost_per_completed:.4f}",
            )
        )
    labels = ("agent", "window", "runs", "completed", "throughput/h", "rework", "exceptions", "escalations", "cost/completed")
    if console.width >= 110:
        table = Table(title="outcome metrics", title_justify="left")
        for label in labels:
            table.add_column(label)
        for row in rows:
            table.add_row(*(cell(v) for v in row))
        console.print(table)
    else:
        for row in rows:
            console.print(f"[bold]{esc(row[0])}[/]  over the last {row[1]}")
            fields(list(zip(labels[2:], row[2:], strict=True)))
    for m in results:
        if getattr(m, "unverified_runs", 0):
            console.print(
                f"{esc(m.agent)}: {m.unverified_runs} run(s) claimed the agent with a start no worker verified "
                "(unsigned, or never picked up); not counted"
            )
