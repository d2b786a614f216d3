"""What an incident report says, section by section, before it is written as Markdown or HTML.

A line is a sequence of pieces: plain text, or ``Code`` shown as code. Nothing here is markup: the
renderers escape every piece for their format, so text a sender chose (a reason, a name, arguments, a
refused payload) is only ever text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mandate.durations import format_duration
from mandate.review.report import IncidentReport

__all__ = ["Code", "Line", "Table", "Section", "sections"]


class Code(str):
    """A piece shown as code."""

    __slots__ = ()


Line = tuple[str, ...]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    lines: list[Line] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


_HOW = {"update": "CLI (update)", "signal": "UI / signal", "timeout": "timeout", "kill": "dropped by kill"}


def _t(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC" if moment else "-"


def _j(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run(r: IncidentReport) -> Section:
    verdict: Line = (
        ("Replay: today's code reproduces this run exactly.",)
        if r.reproduced
        else ("Replay: today's code does NOT reproduce this run: ", r.replay_failure or "", ".")
    )
    closed = f"{r.close_status}{' ' + _t(r.closed_at) if r.closed_at else ''}."
    if r.run_state and r.state != r.run_state:
        state: Line = (
            "Final state: ",
            r.state or "?",
            " (ended by Temporal; the run's own last state: ",
            r.run_state,
            ")",
        )
    else:
        state = ("Final state: ", r.state or "?")
    return Section(
        "Run",
        [
            (
                "Workflow ",
                Code(r.workflow_id),
                " (run ",
                Code(r.run_id),
                "), type ",
                Code(r.workflow_type),
                ", agent ",
                Code(r.agent or "?"),
                ".",
            ),
            verdict,
            (
                "Requested by ",
                r.requested_by or "?",
                f" ({r.start_proof})",
                f"; started {_t(r.started_at)} by client ",
                Code(r.started_by_identity),
                "; ",
                closed,
            ),
            ("Input: ", Code(_j(r.input)), "."),
            (*state, "; outcome: ", r.outcome or "-", " — ", r.summary or ""),
            (f"Cost: {r.cost:.4f}; {r.events} history events.",),
        ],
    )


def _charter(r: IncidentReport) -> Section:
    section = Section("Charter and owners")
    if r.charter is None:
        section.lines.append(("The run never loaded its charter.",))
        return section
    c, o = r.charter, r.charter.owners
    section.lines.append((Code(c.name), ": ", c.description))
    owners = [
        ["workflow design", o.workflow],
        ["risk", o.risk],
        ["quality", o.quality],
        ["stop/go", o.stop_go],
    ]
    section.tables.append(Table(["role", "owner"], owners))
    rows = [
        [
            name,
            rule.policy.value,
            ", ".join(rule.approvers) or "-",
            format_duration(rule.approval_timeout) if rule.policy.value == "approve" else "-",
            ", ".join(rule.escalate_to) or "-",
        ]
        for name, rule in sorted(c.tools.items())
    ]
    section.tables.append(Table(["tool", "policy", "approvers", "timeout", "escalate to"], rows))
    section.lines.append(("Tools not named are blocked (default deny).",))
    if c.model is not None:  # a model-backed agent: the model the run used, as its marker recorded it
        m, price = c.model, f"{c.model.input_token_price or 0:g} / {c.model.output_token_price or 0:g}"
        section.lines.append(
            ("Model: ", Code(m.model), f", at most {m.max_model_calls} calls and {m.max_tokens} tokens a run, "
             f"priced {price} per million tokens in / out; each call is a mandate.model_step activity.",)
        )
    return section


def _timeline(r: IncidentReport) -> Section:
    headers = [
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
    ]
    rows = [
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
    ]
    return Section("Timeline", tables=[Table(headers, rows)])


def _approvals(r: IncidentReport) -> Section:
    section = Section("Approval requests")
    if not r.approvals:
        section.lines.append(("No write needed approval.",))
        return section
    headers = [
        "request",
        "tool",
        "args hash",
        "requested",
        "status",
        "decided by",
        "how",
        "proof",
        "sender identity",
        "when",
        "reason",
    ]
    rows = [
        [
            a.request_id,
            a.tool,
            a.args_hash[:19] + "…",
            _t(a.requested_at),
            a.status + (" (escalated)" if a.escalated else ""),
            a.decided_by or "-",
            _HOW.get(a.channel or "", a.channel or "-"),
            a.proof or "-",
            a.sender_identity or "-",
            _t(a.decided_at),
            a.reason or "",
        ]
        for a in r.approvals
    ]
    section.tables.append(Table(headers, rows))
    for a in r.approvals:
        section.lines.append((a.request_id, " arguments: ", Code(_j(a.args, 400)), f" ({a.args_hash})"))
    return section


def _refused(r: IncidentReport) -> Section:
    section = Section(f"Refused decisions ({r.refused_total})")
    if not r.refused:
        section.lines.append(("None.",))
        return section
    rows = [
        [_t(x.at), x.channel.value, x.kind, x.approver or "-", x.reason, x.payload[:80]] for x in r.refused
    ]
    section.tables.append(Table(["at", "via", "kind", "approver", "why refused", "payload"], rows))
    if r.refused_total > len(r.refused):
        section.lines.append((f"Only the last {len(r.refused)} are kept in full.",))
    return section


def _kill(r: IncidentReport) -> Section:
    section = Section("Kill")
    if not r.killed:
        section.lines.append(("The run was not killed.",))
        return section
    k = r.killed
    section.lines.append(
        (
            "Killed by ",
            k.by,
            f" via {k.channel.value} at {_t(k.at)} (sender identity ",
            Code(r.kill_identity or "-"),
            "): ",
            k.reason,
            f". Rollback: {'yes' if k.rollback else 'no'}. Proof: {r.kill_proof or '-'}.",
        )
    )
    section.lines += [("Monitor evidence: ", Code(_j(ev, 600))) for ev in r.kill_evidence]
    return section


def _compensations(r: IncidentReport) -> Section:
    section = Section("Completed writes and compensations")
    if not r.compensations:
        section.lines.append(("No write completed.",))
        return section
    rows = [
        [
            str(c.step),
            c.tool,
            c.compensation or "-",
            c.status,
            str(r.compensation_attempts.get(c.step, "-")),
            c.error or c.irreversible or "",
        ]
        for c in r.compensations
    ]
    section.tables.append(Table(["step", "write", "compensation", "status", "attempts", "note"], rows))
    return section


def sections(r: IncidentReport) -> list[Section]:
    violations = Section(f"Policy violations ({len(r.violations)})")
    violations.lines += [
        (f"Step {v.index}: ", v.tool, " ", Code(_j(v.args)), " — ", v.result, "; never reached an activity.")
        for v in r.violations
    ] or [("None.",)]
    escalations = Section("Escalations")
    escalations.lines.append(
        (f"{r.escalations} request(s) went past the first approvers." if r.escalations else "None.",)
    )
    messages = Section("Messages received (from the history)")
    if r.messages:
        rows = [[_t(m.at), m.kind, m.name, m.identity, m.payload[:120]] for m in r.messages]
        messages.tables.append(Table(["at", "kind", "name", "sender identity", "payload"], rows))
    else:
        messages.lines.append(("None.",))
    return [
        _run(r),
        _charter(r),
        _timeline(r),
        _approvals(r),
        _refused(r),
        violations,
        escalations,
        _kill(r),
        _compensations(r),
        messages,
    ]
