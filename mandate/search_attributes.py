"""The search attributes Mandate keeps on every run, so the UI and the metrics can filter without histories.

SQL visibility stores (the dev server's SQLite, PostgreSQL) give a namespace three
custom Int, three Double and three KeywordList attributes, so per-run facts that the
metrics count (rejected, escalated, violated, failed, killed) are kept as flags in one
KeywordList instead of one Int each.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

__all__ = [
    "AGENT",
    "OWNER",
    "STATE",
    "PENDING_APPROVALS",
    "APPROVERS",
    "REQUESTED_BY",
    "COST",
    "FLAGS",
    "ALL",
]

AGENT = SearchAttributeKey.for_keyword("MandateAgent")
OWNER = SearchAttributeKey.for_keyword("MandateOwner")
STATE = SearchAttributeKey.for_keyword("MandateState")
PENDING_APPROVALS = SearchAttributeKey.for_int("MandatePendingApprovals")
APPROVERS = SearchAttributeKey.for_keyword_list("MandateApprovers")
REQUESTED_BY = SearchAttributeKey.for_keyword("MandateRequestedBy")
COST = SearchAttributeKey.for_float("MandateCost")
FLAGS = SearchAttributeKey.for_keyword_list("MandateFlags")

ALL: list[SearchAttributeKey] = [AGENT, OWNER, STATE, PENDING_APPROVALS, APPROVERS, REQUESTED_BY, COST, FLAGS]
