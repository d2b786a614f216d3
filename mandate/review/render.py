"""Writing an incident report as Markdown, or as one self-contained HTML page (no external assets).

Every piece of text is escaped for its format, and line breaks and other control characters are shown
escaped (``\\n``), as ``mandate status`` shows them: a reason, a name or a payload is always text on
its line, so it cannot forge a heading, a table row or markup of its own.
"""

from __future__ import annotations

import html
import re

from mandate.review.report import IncidentReport
from mandate.review.sections import Code, Line, Section, sections

__all__ = ["render_markdown", "render_html", "one_line"]


def one_line(text: str) -> str:
    """Control characters escaped (a newline reads ``\\n``), so the text stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# Every ASCII character that can start Markdown (or GitHub table) syntax inside a line; an underscore
# between two letters or digits cannot (issue_refund stays as it is).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# What starts a block only at the start of a line: a heading, a quote, a list item, a setext underline.
_MD_BLOCK_START = re.compile(r"^([-+=#>]|\d+(?=[.)]))")


def _md_text(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", one_line(text))


def _md_code(text: str) -> str:
    """A code span whose fence is longer than any run of backticks inside it."""
    body = one_line(text)
    if not body.strip(" "):
        return _md_text(body)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    pad = " " if body[0] in "` " or body[-1] in "` " else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _md_line(line: Line) -> str:
    text = "".join(_md_code(p) if isinstance(p, Code) else _md_text(p) for p in line).lstrip(" ")
    match = _MD_BLOCK_START.match(text)
    if match is None:
        return text
    if match.group(1)[0].isdigit():
        return f"{match.group(1)}\\{text[match.end() :]}"
    return "\\" + text


def _md_section(section: Section) -> list[str]:
    parts = [f"## {_md_text(section.title)}", ""]
    for line in section.lines:
        parts += [_md_line(line), ""]
    for table in section.tables:
        parts.append("| " + " | ".join(_md_text(h) for h in table.headers) + " |")
        parts.append("|" + "---|" * len(table.headers))
        parts += ["| " + " | ".join(_md_text(cell) for cell in row) + " |" for row in table.rows]
        parts.append("")
    return parts


def render_markdown(report: IncidentReport) -> str:
    parts = [f"# Incident report: {_md_text(report.workflow_id)}", ""]
    for section in sections(report):
        parts += _md_section(section)
    return "\n".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{background:#f6f8fa;padding:0 .2rem;border-radius:3px;word-break:break-all}
.bad{color:#b42318;font-weight:600}.ok{color:#1a7f37;font-weight:600}
"""


def _h(text: str) -> str:
    return html.escape(one_line(text))


def _html_line(line: Line) -> str:
    return "".join(f"<code>{_h(p)}</code>" if isinstance(p, Code) else _h(p) for p in line)


def render_html(report: IncidentReport) -> str:
    verdict = (
        '<p class="ok">Replays cleanly.</p>' if report.reproduced else '<p class="bad">Does not replay.</p>'
    )
    body = [f"<h1>Incident report: {_h(report.workflow_id)}</h1>", verdict]
    for section in sections(report):
        body.append(f"<h2>{_h(section.title)}</h2>")
        body += [f"<p>{_html_line(line)}</p>" for line in section.lines]
        for table in section.tables:
            head = "".join(f"<th>{_h(h)}</th>" for h in table.headers)
            rows = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in table.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    title = _h(f"Incident report: {report.workflow_id}")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
