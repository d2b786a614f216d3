"""How an approval request is made, decided, refused, escalated, timed out and dropped.

``gate`` holds the rules (the arguments' hash, what a decision must pass); ``book.ApprovalBook`` owns
every change of a request's state. Both are pure over the domain types in ``mandate.decisions``: they
touch no clock, I/O or randomness, so they are safe in workflow code.
"""

from mandate.approvals.book import ApprovalBook
from mandate.approvals.gate import args_hash, check_decision, open_request, parse_payload
from mandate.approvals.proof import Proof, RunIdentity, signature_required
from mandate.errors import Refused  # raised here first; kept importable from here

__all__ = [
    "ApprovalBook",
    "Proof",
    "Refused",
    "RunIdentity",
    "args_hash",
    "check_decision",
    "open_request",
    "parse_payload",
    "signature_required",
]
