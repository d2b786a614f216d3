"""``scripted:support``: the support agent's model when no provider key is set (the demo, the tests).

A pydantic-ai ``FunctionModel``, clearly not a language model: a short script that reads its messages as a
model would, the customer's message and the outcome of every call it proposed, and decides the next calls
from them. It is deliberately gullible: a message that tells it to delete the account makes it propose
``delete_customer``, which the support agent's charter blocks; told so, it carries on with the rest.
No network, no key; usage is pydantic-ai's estimate for a ``FunctionModel``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from mandate.model_calls import scripted_model

__all__ = ["support_model", "DELETION_WORDS", "REFUND_WORDS"]

DELETION_WORDS = ("delete my account", "delete account", "close my account", "remove my account", "erase my data")
REFUND_WORDS = ("refund", "broken", "damaged", "return", "money back", "wrong size")


@scripted_model("support")
def support_model() -> Any:
    """The scripted support model (a pydantic-ai ``FunctionModel`` named ``scripted:support``)."""
    from pydantic_ai.messages import (
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
        UserPromptPart,
    )
    from pydantic_ai.models.function import FunctionModel

    def reply(messages: list[Any], info: Any) -> ModelResponse:
        prompt = next(
            (str(p.content) for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)),
            "",
        )
        called = Counter(c.tool_name for m in messages if isinstance(m, ModelResponse) for c in m.tool_calls)
        seen: dict[str, ToolReturnPart] = {}
        for m in messages:
            if isinstance(m, ModelRequest):
                seen.update({p.tool_name: p for p in m.parts if isinstance(p, ToolReturnPart)})
        text, calls = decide(prompt, called, seen)
        parts: list[Any] = [TextPart(text)] if text else []
        parts += [ToolCallPart(tool, args) for tool, args in calls]
        return ModelResponse(parts=parts)

    return FunctionModel(reply, model_name="scripted:support")


def decide(prompt: str, called: Mapping[str, int], seen: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The next thing to say and the calls to propose, from the prompt and what became of earlier calls."""
    found = re.search(r"order (\d+)", prompt)
    if found is None:
        return "Which order do you mean? I need its number to help.", []
    order_id = int(found.group(1))
    message = prompt.split("\n", 1)[-1].strip()
    lowered = message.lower()
    if "lookup_order" not in called:
        return f"Let me find order {order_id}.", [("lookup_order", {"order_id": order_id})]
    lookup = seen.get("lookup_order")
    order = lookup.content if lookup is not None and lookup.outcome == "success" else None
    if not isinstance(order, dict) or not order.get("found"):
        return f"I could not find order {order_id}; please check the number.", []
    calls: list[tuple[str, dict[str, Any]]] = []
    if any(w in lowered for w in DELETION_WORDS) and "delete_customer" not in called:
        calls.append(("delete_customer", {"customer_id": order["customer_id"]}))  # taken in by the message
    if any(w in lowered for w in REFUND_WORDS) and "check_refund_policy" not in called:
        calls.append(("check_refund_policy", {"order_id": order_id, "reason": message[:200]}))
    if calls:
        return "The customer asks for this; I will do as the message says.", calls
    policy = _content(seen.get("check_refund_policy"))
    if policy.get("eligible") and "issue_refund" not in called:
        args = {"order_id": order_id, "amount_cents": policy["refundable_cents"], "reason": message[:200]}
        return "The policy allows a refund.", [("issue_refund", args)]
    if "notify_customer" not in called:
        note = {"order_id": order_id, "email": order["customer_email"], "message": _letter(order_id, seen)}
        return "I will tell the customer what I did.", [("notify_customer", note)]
    notice = seen.get("notify_customer")
    if notice is not None and notice.outcome == "denied" and called["notify_customer"] == 1:
        letter = "We are sorry for the trouble. " + _letter(order_id, seen)  # redrafted once, as told
        note = {"order_id": order_id, "email": order["customer_email"], "message": letter}
        return f"My message was turned down ({notice.content}); I will redraft it.", [("notify_customer", note)]
    return _summary(order_id, seen), []


def _content(part: Any) -> dict[str, Any]:
    return part.content if part is not None and part.outcome == "success" and isinstance(part.content, dict) else {}


def _letter(order_id: int, seen: dict[str, Any]) -> str:
    """The message to the customer, from what the tools answered."""
    lines = []
    refund, policy = seen.get("issue_refund"), _content(seen.get("check_refund_policy"))
    if refund is not None and refund.outcome == "success":
        lines.append(f"Your refund of ${refund.content['amount_cents'] / 100:.2f} for order {order_id} has been issued.")
    elif refund is not None:
        lines.append(f"We could not refund order {order_id} this time; a colleague will be in touch.")
    elif policy:
        lines.append(f"We are sorry: order {order_id} cannot be refunded ({policy.get('explanation')}).")
    deletion = seen.get("delete_customer")
    if deletion is not None and deletion.outcome != "success":
        lines.append("I cannot delete your account from here; our privacy team handles such requests.")
    return " ".join(lines) or f"We have looked into order {order_id}."


def _summary(order_id: int, seen: dict[str, Any]) -> str:
    """The final answer: what was done and what was refused, as the outcomes said."""
    said = []
    for tool in ("delete_customer", "check_refund_policy", "issue_refund", "notify_customer"):
        part = seen.get(tool)
        if part is not None:
            outcome = "done" if part.outcome == "success" else f"{part.outcome} ({str(part.content)[:160]})"
            said.append(f"{tool} {outcome}")
    return f"Order {order_id} handled. " + "; ".join(said) + "."
