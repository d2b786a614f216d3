"""How an approval request is made, decided, refused and escalated.

Pure functions over the domain types in ``mandate.decisions``: the workflow calls
them, they touch no clock, I/O or randomness, so they are safe in workflow code.
"""

from mandate.approvals.gate import Refused, args_hash, check_decision, escalate, open_request, parse_payload

__all__ = ["Refused", "args_hash", "check_decision", "escalate", "open_request", "parse_payload"]
