"""The governed agent base, each agent, and the kill-criteria monitor."""

from workflows.governed import GovernedAgent
from workflows.refund_agent import RefundAgent

__all__ = ["GovernedAgent", "RefundAgent", "AGENT_WORKFLOWS"]

#: Every agent workflow this code base defines, by workflow type name (what a charter's ``workflow`` names).
AGENT_WORKFLOWS: dict[str, type[GovernedAgent]] = {"RefundAgent": RefundAgent}
