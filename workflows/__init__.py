"""The governed agent base, the planner interface, the demo refund agent, and the kill-criteria monitor."""

from mandate.workflows.governed import GovernedAgent

__all__ = ["GovernedAgent"]
