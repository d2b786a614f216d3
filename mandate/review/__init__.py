"""Incident review: replay a run's history against today's code and say what happened, and who let it."""

from mandate.review.history import HistoryFileError, load_history_file
from mandate.review.render import render_html, render_markdown
from mandate.review.replay import ReplayOutcome, replay_history
from mandate.review.report import IncidentReport, build_report

__all__ = [
    "HistoryFileError",
    "IncidentReport",
    "ReplayOutcome",
    "build_report",
    "load_history_file",
    "render_html",
    "render_markdown",
    "replay_history",
]
