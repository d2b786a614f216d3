"""`mandate status` for people: one run's state, owners, writes, steps, requests and decisions.

Lines, not tables, so that it reads at 80 columns: names and ids stay whole on their line, and
free text (results, errors, reasons) wraps, indented, under the line it belongs to.
"""

from __future__ import annotations

import textwrap
from datetime import datetime

from mandate.api import PendingApproval, RunRecord, RunStatus
from mandate.cli._render import console, esc, fields, pending_blocks, plain, short_args, wrapped
from mandate.run import Compensation

__all__ = ["show_status", "show_record", "undo_text"]


def _when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return f"{moment:{fmt}} UTC" if moment is not None else "?"


def _heading(text: str) -> None:
    console.print(f"\n[bold]{esc(text)}[/]")


def _columns(rows: list[tuple[str, ...]], indent: int = 2) -> None:
    """Rows of short values, each column as wide as its widest value; the last one wraps under itself."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lead = indent + sum(w + 2 for w in widths)
    room = max(20, console.width - lead)
    for row in rows:
        cells = [value.ljust(widths[i]) for i, value in enumerate(row[:-1])]
        lines = textwrap.wrap(row[-1], room, break_long_words=False, break_on_hyphens=False) or [""]
        plain(" " * indent + "  ".join([*cells, lines[0]]))
        for more in lines[1:]:
            plain(" " * lead + more)


def undo_text(c: Compensation) -> str:
    """What can be, or was, done to undo one completed write, in words."""
    status = str(c.status)
    if status == "done":
        return f"undone by {c.compensation}"
    if status == "failed":
        return f"undo by {c.compensation} FAILED: {c.error or 'no error recorded'}"
    if status == "not_undoable" or c.compensation is None:
        return "irreversible" + (f": {c.irreversible}" if c.irreversible else "")
    return f"undoable by {c.compensation}"


def show_status(status: RunStatus) -> None:
    state = status.state.value
    console.print(
        f"[bold]{esc(status.workflow_id)}[/]  agent [cyan]{esc(status.agent)}[/]  state [bold]{esc(state)}[/]"
    )
    if state != status.reported_state.value:
        wrapped(
            f"Temporal {status.temporal_status} it at {_when(status.closed_at)}; the run had reached "
            f"{status.reported_state.value}",
            indent=2,
        )
    rows = [("requested by", status.requested_by), ("input", short_args(status.input, 400))]
    if status.owners:
        o = status.owners
        rows.append(("owners", f"workflow {o.workflow}, risk {o.risk}, quality {o.quality}, stop/go {o.stop_go}"))
    if status.outcome:
        rows.append(("outcome", f"{status.outcome}: {status.summary or ''}"))
    if status.killed:
        k = status.killed
        rows.append(
            (
                "killed",
                f"by {k.by} via {k.channel.value} at {_when(k.at)}: {k.reason}" + (" (rollback)" if k.rollback else ""),
            )
        )
    rows.append(
        (
            "counts",
            f"cost {status.cost:.3f}, violations {status.violations}, rejections {status.rejections}, "
            f"escalations {status.escalations}, refused decisions {status.refused_total}",
        )
    )
    fields(rows, indent=0)
    _steps(status)
    if status.compensations:
        _heading("completed writes")
        _columns([(f"step {c.step}", c.tool, undo_text(c)) for c in status.compensations])
    if status.pending:
        _heading("pending approvals")
        pending_blocks([PendingApproval(status.workflow_id, status.agent, r) for r in status.pending], with_run=False)
    if status.decisions:
        _heading("decisions")
        for d in status.decisions:
            wrapped(f"{d.request_id}  {d.kind.value} by {d.approver} via {d.channel.value} at {_when(d.at)}", indent=2, hanging=6)
            if d.reason:
                wrapped(d.reason, indent=6)
    if status.refused:
        _heading(f"refused decisions ({status.refused_total})")
        for r in status.refused:
            who = f" from {r.approver}" if r.approver else ""
            wrapped(f"{_when(r.at, '%H:%M:%S')}  {r.kind} via {r.channel.value}{who}", indent=2, hanging=6)
            wrapped(r.reason, indent=6)


def _steps(status: RunStatus) -> None:
    _heading("steps")
    if not status.steps:
        plain("  none yet")
        return
    rows = []
    for s in status.steps:
        authority = s.authority.value if s.authority else "?"
        rows.append((str(s.index), s.tool, f"{authority}/{s.policy.value}", s.status.value))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row, s in zip(rows, status.steps, strict=True):
        plain("  " + "  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip())
        detail = s.error or (short_args(s.result, 300) if s.result else "")
        if detail:
            wrapped(detail, indent=4 + widths[0])


def show_record(record: RunRecord, note: str) -> None:
    """A run as Temporal describes it, when the run itself did not answer."""
    agent = f"  agent [cyan]{esc(record.agent)}[/]" if record.agent else ""
    console.print(f"[bold]{esc(record.workflow_id)}[/]{agent}  state [bold]{esc(record.state)}[/]")
    wrapped(f"note: {note}", indent=0)
    rows = [
        ("temporal", f"{record.temporal_status} ({record.workflow_type} on task queue {record.task_queue!r})"),
        ("started", _when(record.started_at)),
    ]
    if record.closed_at:
        rows.append(("closed", _when(record.closed_at)))
    if record.requested_by:
        rows.append(("requested by", record.requested_by))
    if record.pending_approvals:
        rows.append(("pending", f"{record.pending_approvals} approval(s), as the run last published"))
    fields(rows, indent=0)
