"""Rendering an incident report as Markdown, or as one self-contained HTML page (no external assets)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mandate.durations import format_duration
from mandate.review.report import IncidentReport

__all__ = ["render_markdown", "render_html"]


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class _Section:
    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)


def _t(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC" if moment else "-"


def _j(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sections(r: IncidentReport) -> list[_Section]:
    out: list[_Section] = []
    verdict = (
        "today's code reproduces this run exactly"
        if r.reproduced
        else f"today's code does NOT reproduce this run: {r.replay_failure}"
    )
    head = _Section("Run")
    head.lines += [
        f"Workflow `{r.workflow_id}` (run `{r.run_id}`), type `{r.workflow_type}`, agent `{r.agent or '?'}`.",
        f"Replay: {verdict}.",
        f"Requested by {r.requested_by or '?'}; started {_t(r.started_at)} by client `{r.started_by_identity}`; "
        f"{r.close_status}{' ' + _t(r.closed_at) if r.closed_at else ''}.",
        f"Input: `{_j(r.input)}`.",
        f"Final state: {r.state or '?'}; outcome: {r.outcome or '-'} — {r.summary or ''}",
        f"Cost: {r.cost:.4f}; {r.events} history events.",
    ]
    out.append(head)

    charter = _Section("Charter and owners")
    if r.charter:
        c = r.charter
        o = c.owners
        charter.lines.append(f"`{c.name}`: {c.description}")
        charter.tables.append(
            _Table(
                ["role", "owner"],
                [
                    ["workflow design", o.workflow],
                    ["risk", o.risk],
                    ["quality", o.quality],
                    ["stop/go", o.stop_go],
                ],
            )
        )
        rows = []
        for name, rule in sorted(c.tools.items()):
            rows.append(
                [
                    name,
                    rule.policy.value,
                    ", ".join(rule.approvers) or "-",
                    format_duration(rule.approval_timeout) if rule.policy.value == "approve" else "-",
                    ", ".join(rule.escalate_to) or "-",
                ]
            )
        charter.tables.append(_Table(["tool", "policy", "approvers", "timeout", "escalate to"], rows))
        charter.lines.append("Tools not named are blocked (default deny).")
    else:
        charter.lines.append("The run never loaded its charter.")
    out.append(charter)

    timeline = _Section("Timeline")
    timeline.tables.append(
        _Table(
            [
                "#",
                "started",
                "tool",
                "authority",
                "policy",
                "status",
                "arguments",
                "result / error",
                "ms",
                "attempts",
            ],
            [
                [
                    str(t.index),
                    _t(t.started_at),
                    t.tool,
                    t.authority,
                    t.policy,
                    t.status,
                    _j(t.args, 80),
                    t.result[:120],
                    f"{t.duration_ms:.0f}" if t.duration_ms is not None else "-",
                    str(t.attempts or "-"),
                ]
                for t in r.timeline
            ],
        )
    )
    out.append(timeline)

    approvals = _Section("Approval requests")
    if r.approvals:
        approvals.tables.append(
            _Table(
                [
                    "request",
                    "tool",
                    "args hash",
                    "requested",
                    "status",
                    "decided by",
                    "how",
                    "sender identity",
                    "when",
                    "reason",
                ],
                [
                    [
                        a.request_id,
                        a.tool,
                        a.args_hash[:19] + "…",
                        _t(a.requested_at),
                        a.status + (" (escalated)" if a.escalated else ""),
                        a.decided_by or "-",
                        {
                            "update": "CLI (update)",
                            "signal": "UI / signal",
                            "timeout": "timeout",
                            "kill": "dropped by kill",
                        }.get(a.channel or "", a.channel or "-"),
                        a.sender_identity or "-",
                        _t(a.decided_at),
                        a.reason or "",
                    ]
                    for a in r.approvals
                ],
            )
        )
        for a in r.approvals:
            approvals.lines.append(f"{a.request_id} arguments: `{_j(a.args, 400)}` ({a.args_hash})")
    else:
        approvals.lines.append("No write needed approval.")
    out.append(approvals)

    refused = _Section(f"Refused decisions ({r.refused_total})")
    if r.refused:
        refused.tables.append(
            _Table(
                ["at", "via", "kind", "approver", "why refused", "payload"],
                [
                    [_t(x.at), x.channel.value, x.kind, x.approver or "-", x.reason, x.payload[:80]]
                    for x in r.refused
                ],
            )
        )
        if r.refused_total > len(r.refused):
            refused.lines.append(f"Only the last {len(r.refused)} are kept in full.")
    else:
        refused.lines.append("None.")
    out.append(refused)

    violations = _Section(f"Policy violations ({len(r.violations)})")
    violations.lines += [
        f"Step {v.index}: {v.tool} `{_j(v.args)}` — {v.result}; never reached an activity."
        for v in r.violations
    ] or ["None."]
    out.append(violations)

    esc = _Section("Escalations")
    esc.lines.append(
        f"{r.escalations} request(s) went past the first approvers." if r.escalations else "None."
    )
    out.append(esc)

    kill = _Section("Kill")
    if r.killed:
        k = r.killed
        kill.lines.append(
            f"Killed by {k.by} via {k.channel.value} at {_t(k.at)} "
            f"(sender identity `{r.kill_identity or '-'}`): {k.reason}. Rollback: {'yes' if k.rollback else 'no'}."
        )
        for ev in r.kill_evidence:
            kill.lines.append(f"Monitor evidence: `{_j(ev, 600)}`")
    else:
        kill.lines.append("The run was not killed.")
    out.append(kill)

    comp = _Section("Completed writes and compensations")
    if r.compensations:
        comp.tables.append(
            _Table(
                ["step", "write", "compensation", "status", "attempts", "note"],
                [
                    [
                        str(c.step),
                        c.tool,
                        c.compensation or "-",
                        c.status,
                        str(r.compensation_attempts.get(c.step, "-")),
                        c.error or c.irreversible or "",
                    ]
                    for c in r.compensations
                ],
            )
        )
    else:
        comp.lines.append("No write completed.")
    out.append(comp)

    msgs = _Section("Messages received (from the history)")
    if r.messages:
        msgs.tables.append(
            _Table(
                ["at", "kind", "name", "sender identity", "payload"],
                [[_t(m.at), m.kind, m.name, m.identity, m.payload[:120]] for m in r.messages],
            )
        )
    else:
        msgs.lines.append("None.")
    out.append(msgs)
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: IncidentReport) -> str:
    parts = [f"# Incident report: {report.workflow_id}", ""]
    for section in _sections(report):
        parts += [f"## {section.title}", ""]
        for line in section.lines:
            parts += [line, ""]
        for table in section.tables:
            parts.append("| " + " | ".join(table.headers) + " |")
            parts.append("|" + "---|" * len(table.headers))
            parts += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
            parts.append("")
    return "\n".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{background:#f6f8fa;padding:0 .2rem;border-radius:3px;word-break:break-all}
.bad{color:#b42318;font-weight:600}.ok{color:#1a7f37;font-weight:600}
"""


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def render_html(report: IncidentReport) -> str:
    verdict = (
        '<p class="ok">Replays cleanly.</p>' if report.reproduced else '<p class="bad">Does not replay.</p>'
    )
    body = [f"<h1>Incident report: {html.escape(report.workflow_id)}</h1>", verdict]
    for section in _sections(report):
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [f"<p>{_inline(line)}</p>" for line in section.lines]
        for table in section.tables:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    title = html.escape(f"Incident report: {report.workflow_id}")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
