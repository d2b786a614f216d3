"""The benchmark's baseline: the demo's work as a plain Temporal workflow, with no governance.

Two read activities, then ``workflow.wait_condition`` on an ``approve`` signal, then the write
activity. The activities do the same SQLite work as the shop's tools (they call the very same
functions), but without Mandate's tool wrapper, charter, approval gate or search attributes.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from benchmarks.raw_shared import (
        RETRY,
        TIMEOUT,
        RawInput,
        RawRefundCall,
        raw_check_refund_policy,
        raw_issue_refund,
        raw_lookup_order,
    )
    from mandate.activities.shop import OrderRef, PolicyQuestion, RefundArgs, RefundReceipt

__all__ = ["RawRefund"]


@workflow.defn(name="RawRefund")
class RawRefund:
    """Look the order up, check the policy, wait for an ``approve`` signal, refund."""

    def __init__(self) -> None:
        self._requested = False
        self._approved = False

    @workflow.run
    async def run(self, run_input: RawInput) -> RefundReceipt:
        order = await workflow.execute_activity(
            raw_lookup_order, OrderRef(order_id=run_input.order_id),
            start_to_close_timeout=TIMEOUT, retry_policy=RETRY,
        )
        # The answer is not used, as in the governed benchmark agent: both sides always do three steps.
        await workflow.execute_activity(
            raw_check_refund_policy, PolicyQuestion(order_id=run_input.order_id, reason=run_input.reason),
            start_to_close_timeout=TIMEOUT, retry_policy=RETRY,
        )
        self._requested = True
        await workflow.wait_condition(lambda: self._approved)
        return await workflow.execute_activity(
            raw_issue_refund,
            RawRefundCall(
                args=RefundArgs(
                    order_id=run_input.order_id, amount_cents=order.amount_cents or 1, reason=run_input.reason
                ),
                idempotency_key=f"{workflow.info().workflow_id}:r1",
            ),
            start_to_close_timeout=TIMEOUT, retry_policy=RETRY,
        )

    @workflow.signal(name="approve")
    def approve(self, payload: Any = None) -> None:
        if self._requested:
            self._approved = True

    @workflow.query(name="pending")
    def pending(self) -> bool:
        """True while the write waits for its approval."""
        return self._requested and not self._approved
