"""The vocabulary of authority: what a tool can do, and what a charter lets an agent do with it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Authority", "Policy"]


class Authority(StrEnum):
    """What a tool does to the world, declared once on the tool in code."""

    READ = "read"
    WRITE = "write"


class Policy(StrEnum):
    """What an agent's charter says about one tool."""

    ALLOW = "allow"
    APPROVE = "approve"
    BLOCK = "block"
