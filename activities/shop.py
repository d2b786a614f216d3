"""The refund agent's tools. Writes are idempotent by the key Mandate hands each call."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from mandate.activities.shop_db import connect
from mandate.authority import Authority
from mandate.nonces import claim_nonce
from mandate.tools import current_tool_context, tool

__all__ = [
    "OrderRef",
    "Order",
    "PolicyQuestion",
    "PolicyAnswer",
    "RefundArgs",
    "RefundReceipt",
    "ReverseRefundArgs",
    "ReversalReceipt",
    "NoticeArgs",
    "NoticeReceipt",
    "CustomerRef",
    "DeletionReceipt",
    "record_refund",
]

REFUND_WINDOW_DAYS = 30
# One attempt of a shop call: SQLite waits up to 30 s for a lock, the work itself takes milliseconds. A
# worker that dies mid-call has the attempt retried after this, not after the 5-minute default.
CALL_TIMEOUT = "1m"


class OrderRef(BaseModel):
    order_id: int


class Order(BaseModel):
    found: bool
    order_id: int
    customer_id: int | None = None
    customer_email: str | None = None
    item: str | None = None
    amount_cents: int | None = None
    status: str | None = None
    days_since_delivery: int | None = None


class PolicyQuestion(BaseModel):
    order_id: int
    reason: str = ""


class PolicyAnswer(BaseModel):
    eligible: bool
    refundable_cents: int
    explanation: str


class RefundArgs(BaseModel):
    order_id: int
    amount_cents: int = Field(gt=0)
    reason: str = ""


class RefundReceipt(BaseModel):
    refund_id: int
    order_id: int
    amount_cents: int
    status: Literal["issued", "reversed"]


class ReverseRefundArgs(BaseModel):
    original: RefundArgs
    result: RefundReceipt


class ReversalReceipt(BaseModel):
    refund_id: int
    reversed: bool


class NoticeArgs(BaseModel):
    order_id: int
    email: str
    message: str = Field(min_length=1, max_length=2000)


class NoticeReceipt(BaseModel):
    notification_id: int


class CustomerRef(BaseModel):
    customer_id: int


class DeletionReceipt(BaseModel):
    customer_id: int
    deleted: bool


def _key() -> str:
    key = current_tool_context().idempotency_key
    if not key:
        raise ApplicationError("a write tool was called without an idempotency key", type="ToolRefused")
    return key


@tool(timeout=CALL_TIMEOUT, authority=Authority.READ, cost=0.001)
async def lookup_order(args: OrderRef) -> Order:
    """Find an order and its customer."""

    def query() -> Order:
        with connect() as db:
            row = db.execute(
                "SELECT o.*, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
                (args.order_id,),
            ).fetchone()
        if row is None:
            return Order(found=False, order_id=args.order_id)
        return Order(
            found=True,
            order_id=row["id"],
            customer_id=row["customer_id"],
            customer_email=row["email"],
            item=row["item"],
            amount_cents=row["amount_cents"],
            status=row["status"],
            days_since_delivery=row["days_since_delivery"],
        )

    return await asyncio.to_thread(query)


@tool(timeout=CALL_TIMEOUT, authority=Authority.READ, cost=0.002)
async def check_refund_policy(args: PolicyQuestion) -> PolicyAnswer:
    """Is this order refundable, and for how much?"""

    def query() -> PolicyAnswer:
        with connect() as db:
            order = db.execute("SELECT * FROM orders WHERE id = ?", (args.order_id,)).fetchone()
            refunded = _issued_refund(db, args.order_id)
        if order is None:
            return PolicyAnswer(eligible=False, refundable_cents=0, explanation="no such order")
        if refunded:
            return PolicyAnswer(eligible=False, refundable_cents=0, explanation="already refunded")
        if order["status"] != "delivered":
            return PolicyAnswer(eligible=False, refundable_cents=0, explanation=f"order is {order['status']}")
        if order["days_since_delivery"] > REFUND_WINDOW_DAYS:
            return PolicyAnswer(
                eligible=False,
                refundable_cents=0,
                explanation=f"delivered {order['days_since_delivery']} days ago, past the {REFUND_WINDOW_DAYS}-day window",
            )
        return PolicyAnswer(
            eligible=True,
            refundable_cents=order["amount_cents"],
            explanation=f"delivered {order['days_since_delivery']} days ago, within the {REFUND_WINDOW_DAYS}-day window",
        )

    return await asyncio.to_thread(query)


def _issued_refund(db: sqlite3.Connection, order_id: int) -> sqlite3.Row | None:
    """The order's refund that stands (issued, not reversed), if any."""
    row: sqlite3.Row | None = db.execute(
        "SELECT id FROM refunds WHERE order_id = ? AND status = 'issued'", (order_id,)
    ).fetchone()
    return row


def record_refund(args: RefundArgs, idempotency_key: str) -> RefundReceipt:
    """Write the refund once per key: a retry or replay with the same key returns the first receipt.

    An order is refunded at most once: a second key for an order with an issued refund is refused. A key
    seen with other arguments is refused too, never answered with another write's receipt. The approval
    the call runs under is used once, in this same transaction (``claim_nonce``).
    """
    with connect() as db:
        claim_nonce(db)
        existing = db.execute(
            "SELECT * FROM refunds WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if existing is not None and (existing["order_id"], existing["amount_cents"]) != (args.order_id, args.amount_cents):
            raise ApplicationError(
                f"idempotency key {idempotency_key!r} already refunded order {existing['order_id']}; "
                f"it cannot stand for a refund of order {args.order_id}",
                type="ToolRefused",
                non_retryable=True,
            )
        if existing is None:
            order = db.execute("SELECT * FROM orders WHERE id = ?", (args.order_id,)).fetchone()
            if order is None:
                raise ApplicationError(f"order {args.order_id} does not exist", type="ToolRefused")
            other = _issued_refund(db, args.order_id)
            if other is not None:
                # Two runs for one order can both pass check_refund_policy before either refunds;
                # the write itself refuses the second (inside the same IMMEDIATE transaction).
                raise ApplicationError(
                    f"order {args.order_id} already has refund {other['id']} issued; not refunding it twice",
                    type="ToolRefused",
                )
            if args.amount_cents > order["amount_cents"]:
                raise ApplicationError(
                    f"refund of {args.amount_cents} cents exceeds the order total {order['amount_cents']}",
                    type="ToolRefused",
                )
            db.execute(
                "INSERT INTO refunds (order_id, amount_cents, reason, status, idempotency_key)"
                " VALUES (?, ?, ?, 'issued', ?)",
                (args.order_id, args.amount_cents, args.reason, idempotency_key),
            )
            db.execute("UPDATE orders SET status = 'refunded' WHERE id = ?", (args.order_id,))
            existing = db.execute(
                "SELECT * FROM refunds WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
    return RefundReceipt(
        refund_id=existing["id"],
        order_id=existing["order_id"],
        amount_cents=existing["amount_cents"],
        status=existing["status"],
    )


@tool(timeout=CALL_TIMEOUT, authority=Authority.WRITE, cost=0.01, compensation="reverse_refund")
async def issue_refund(args: RefundArgs) -> RefundReceipt:
    """Refund an order to the customer's original payment method."""
    return await asyncio.to_thread(record_refund, args, _key())


@tool(timeout=CALL_TIMEOUT, authority=Authority.WRITE, cost=0.01, compensates="issue_refund")
async def reverse_refund(args: ReverseRefundArgs) -> ReversalReceipt:
    """Undo a refund issued by issue_refund (idempotent: reversing twice changes nothing). Only the refund
    this run's write recorded: the undo key is the write's key + ``:undo``, the row must carry the write's."""
    undo_key = _key()
    write_key = undo_key.removesuffix(":undo")

    def write() -> ReversalReceipt:
        with connect() as db:
            row = db.execute("SELECT idempotency_key FROM refunds WHERE id = ?", (args.result.refund_id,)).fetchone()
            if row is None or not undo_key.endswith(":undo") or row["idempotency_key"] != write_key:
                raise ApplicationError(
                    f"refund {args.result.refund_id} was not issued by the write {write_key!r}; a compensation "
                    "undoes only its own run's write",
                    type="ToolRefused",
                    non_retryable=True,
                )
            changed = db.execute(
                "UPDATE refunds SET status = 'reversed', reversed_at = CURRENT_TIMESTAMP"
                " WHERE id = ? AND status = 'issued'",
                (args.result.refund_id,),
            ).rowcount
            if changed:
                db.execute(
                    "UPDATE orders SET status = 'delivered' WHERE id = ? AND status = 'refunded'",
                    (args.result.order_id,),
                )
        return ReversalReceipt(refund_id=args.result.refund_id, reversed=True)

    return await asyncio.to_thread(write)


@tool(
    timeout=CALL_TIMEOUT,
    authority=Authority.WRITE,
    cost=0.005,
    irreversible="a message delivered to a customer cannot be recalled",
)
async def notify_customer(args: NoticeArgs) -> NoticeReceipt:
    """Send the customer a message (a person reads the draft first)."""
    key = _key()

    def write() -> NoticeReceipt:
        with connect() as db:
            claim_nonce(db)
            db.execute(
                "INSERT OR IGNORE INTO notifications (order_id, email, message, idempotency_key) VALUES (?, ?, ?, ?)",
                (args.order_id, args.email, args.message, key),
            )
            row = db.execute("SELECT id FROM notifications WHERE idempotency_key = ?", (key,)).fetchone()
        return NoticeReceipt(notification_id=row["id"])

    return await asyncio.to_thread(write)


@tool(timeout=CALL_TIMEOUT, authority=Authority.WRITE, cost=0.0, irreversible="a deleted customer account cannot be restored")
async def delete_customer(args: CustomerRef) -> DeletionReceipt:
    """Delete a customer's account. The refund agent's charter blocks it."""

    def write() -> DeletionReceipt:
        with connect() as db:
            db.execute("UPDATE customers SET deleted = 1 WHERE id = ?", (args.customer_id,))
        return DeletionReceipt(customer_id=args.customer_id, deleted=True)

    return await asyncio.to_thread(write)
