"""The plain baseline's inputs and activities, in a module of their own as the SDK samples keep them.

The workflow module imports this one through ``workflow.unsafe.imports_passed_through()``, so the
sandbox does not define these models and activities again for every run (it does run the workflow's
own module again, as it does for any plain Temporal workflow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.common import RetryPolicy

from mandate.activities import shop
from mandate.activities.shop import Order, OrderRef, PolicyAnswer, PolicyQuestion, RefundArgs, RefundReceipt

__all__ = [
    "RAW_ACTIVITIES",
    "RAW_WRITE_ACTIVITY",
    "RETRY",
    "TIMEOUT",
    "RawInput",
    "RawRefundCall",
    "raw_check_refund_policy",
    "raw_issue_refund",
    "raw_lookup_order",
]

RAW_WRITE_ACTIVITY = "raw_issue_refund"
TIMEOUT = timedelta(minutes=5)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5)


class RawInput(BaseModel):
    order_id: int
    reason: str = ""


class RawRefundCall(BaseModel):
    args: RefundArgs
    idempotency_key: str


@activity.defn(name="raw_lookup_order")
async def raw_lookup_order(args: OrderRef) -> Order:
    return await shop.lookup_order(args)


@activity.defn(name="raw_check_refund_policy")
async def raw_check_refund_policy(args: PolicyQuestion) -> PolicyAnswer:
    return await shop.check_refund_policy(args)


@activity.defn(name=RAW_WRITE_ACTIVITY)
async def raw_issue_refund(call: RawRefundCall) -> RefundReceipt:
    return await asyncio.to_thread(shop.record_refund, call.args, call.idempotency_key)


RAW_ACTIVITIES: list[Callable[..., Any]] = [raw_lookup_order, raw_check_refund_policy, raw_issue_refund]
