"""The durable, ungoverned baseline of ``model_steps.py``: the same model loop as a plain Temporal workflow.

One activity per model call (``pydantic_ai.direct.model_request``, the conversation carried whole, as
``ModelPlanner`` does) and one per tool call, with no charter, no approvals, no search attributes and no
argument checks: what durability alone costs, so that governance can be told apart from it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic_ai.direct import model_request
    from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest, ToolReturnPart
    from pydantic_ai.models import Model, ModelRequestParameters
    from pydantic_ai.tools import ToolDefinition

    from mandate.activities import shop

MODELS: dict[str, Model] = {}  # set by model_steps.py before the worker starts
TOOLS = [
    ToolDefinition(
        name="lookup_order",
        description="Find an order and its customer.",
        parameters_json_schema=shop.OrderRef.model_json_schema(),
    )
]


@activity.defn(name="bench.model_call")
async def model_call(step: dict[str, Any]) -> dict[str, Any]:
    history = ModelMessagesTypeAdapter.validate_python(step["messages"])
    if step.get("prompt") is not None:
        request = ModelRequest.user_text_prompt(step["prompt"], instructions="Look the orders up.")
    else:
        parts = [ToolReturnPart(o["tool"], o["content"], tool_call_id=o["id"]) for o in step["outcomes"]]
        request = ModelRequest(parts=parts, instructions="Look the orders up.")
    response = await model_request(
        MODELS["model"],
        [*history, request],
        model_settings={"max_retries": 0},
        model_request_parameters=ModelRequestParameters(function_tools=TOOLS, allow_text_output=True),
    )
    messages = ModelMessagesTypeAdapter.dump_python([request, response], mode="json", exclude_none=True)
    calls = [{"id": c.tool_call_id, "tool": c.tool_name, "args": c.args_as_dict()} for c in response.tool_calls]
    return {"messages": messages, "calls": calls, "text": response.text or ""}


@activity.defn(name="bench.lookup_order")
async def lookup_order(args: dict[str, Any]) -> dict[str, Any]:
    return (await shop.lookup_order(shop.OrderRef.model_validate(args))).model_dump(mode="json")


@workflow.defn(name="PlainModelLoop")
class PlainModelLoop:
    @workflow.run
    async def run(self, prompt: str) -> str:
        messages: list[dict[str, Any]] = []
        step: dict[str, Any] = {"messages": messages, "prompt": prompt}
        while True:
            result = await workflow.execute_activity(
                model_call, step, start_to_close_timeout=timedelta(minutes=2)
            )
            messages = [*messages, *result["messages"]]
            if not result["calls"]:
                return str(result["text"])
            outcomes = []
            for call in result["calls"]:
                output = await workflow.execute_activity(
                    lookup_order, call["args"], start_to_close_timeout=timedelta(minutes=1)
                )
                outcomes.append({"id": call["id"], "tool": call["tool"], "content": output})
            step = {"messages": messages, "outcomes": outcomes}
