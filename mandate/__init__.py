"""Mandate: AI agents as governed, durable Temporal workflows."""

__version__ = "0.1.0"
