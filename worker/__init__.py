"""Assembling a worker from charters; the embedded dev server; search attributes."""

from mandate.worker.build import build_worker, plan_agents, start_monitors
from mandate.worker.dev_server import start_dev_server, temporal_cli_path
from mandate.worker.search_attributes import register_search_attributes

__all__ = [
    "start_monitors",
    "build_worker",
    "plan_agents",
    "start_dev_server",
    "temporal_cli_path",
    "register_search_attributes",
]
