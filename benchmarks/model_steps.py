"""What governing a model-backed agent costs: history per conversation, and time per model step.

    .venv/bin/python benchmarks/model_steps.py [--steps 20] [--repeat 3] [--json]

One scripted pydantic-ai model (``FunctionModel``) proposes ``lookup_order`` once per call, ``--steps``
times, then answers in text: ``--steps`` + 1 model calls and ``--steps`` tool calls. It is run two ways,
``--repeat`` times each after one warm-up, and the median and the spread (min-max) are reported:

- **mandate**: the support agent's shipped charter pointed at the scripted model, on the embedded dev server
  (in memory), a worker built by ``build_worker`` in this process; started with ``mandate.api.start_agent``
  (signed, as ``mandate start`` does), timed from start to result. Its history is measured too: events,
  bytes as the Web UI downloads it, and the bytes the model steps' inputs and results take.
- **plain**: the same model function and the same shop tool (the tool's own function, called directly) as a
  pydantic-ai ``Agent`` run in this process: no Temporal, no charter.
- **temporal**: the same loop as a plain Temporal workflow (``model_plain.py``): one activity per model call,
  the conversation carried whole, one per tool call; no charter, approvals, search attributes or checks.

The overhead per model step is (mandate - plain) / model calls: a durable, governed step (the model call
and the tool call each an activity, each proposal through the charter) against an in-process loop; and
(mandate - temporal) / model calls, what governance adds to a durable loop. The client, the workers and
the dev server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ["MANDATE_HOME"] = tempfile.mkdtemp(prefix="mandate-bench-model-")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from benchmarks import model_plain  # noqa: E402
from mandate import api  # noqa: E402
from mandate.activities import shop  # noqa: E402
from mandate.charter import load_charter  # noqa: E402
from mandate.contract import MODEL_STEP_ACTIVITY  # noqa: E402
from mandate.keys import ensure_demo_keys  # noqa: E402
from mandate.model_calls import scripted_model  # noqa: E402
from mandate.tools import registry  # noqa: E402
from mandate.worker import build_worker, start_dev_server  # noqa: E402
from mandate.worker.build import sandbox_runner  # noqa: E402

AGENT, REQUESTER = "support-agent", "bob@example.com"
MODEL_ACTIVITIES = (MODEL_STEP_ACTIVITY, "bench.model_call")


def script(steps: int):
    """The model: one lookup per call (a different order each time), ``steps`` times, then an answer."""

    def reply(messages: list[Any], info: AgentInfo) -> ModelResponse:
        done = sum(isinstance(m, ModelResponse) for m in messages)
        if done < steps:
            return ModelResponse(parts=[ToolCallPart("lookup_order", {"order_id": 1001 + done % 50})])
        return ModelResponse(parts=[TextPart(f"looked up {steps} orders")])

    return reply


async def lookup_order(order_id: int) -> dict[str, Any]:
    """Find an order and its customer."""
    return (await shop.lookup_order(shop.OrderRef(order_id=order_id))).model_dump(mode="json")


async def plain_run(agent: Agent[None, str]) -> float:
    started = time.perf_counter()
    await agent.run("A customer writes about their orders.")
    return time.perf_counter() - started


def history_figures(history: Any) -> dict[str, Any]:
    """Events and bytes of one run's history, and what its model steps' inputs and results take."""
    scheduled: dict[int, str] = {}
    inputs: list[int] = []
    results: list[int] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
            if attrs.activity_type.name in MODEL_ACTIVITIES:
                inputs.append(sum(len(p.data) for p in attrs.input.payloads))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if scheduled.get(attrs.scheduled_event_id) in MODEL_ACTIVITIES:
                results.append(sum(len(p.data) for p in attrs.result.payloads))
    return {
        "events": len(history.events),
        "history_bytes": len(history.to_json()),
        "model_calls": len(inputs),
        "model_input_bytes": sum(inputs),
        "model_result_bytes": sum(results),
        "largest_model_input_bytes": max(inputs, default=0),
    }


async def main(steps: int, repeat: int) -> dict[str, Any]:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    scripted_model(name)(lambda: FunctionModel(script(steps), model_name=f"scripted:{name}"))
    charter = load_charter(REPO / "charters" / f"{AGENT}.toml", registry)
    assert charter.model is not None
    section = charter.model.model_copy(
        update={"model": f"scripted:{name}", "max_model_calls": steps + 5, "max_tokens": 10**9}
    )
    charters = {AGENT: charter.model_copy(update={"model": section})}
    ensure_demo_keys(["mandate-monitor", REQUESTER, "ana@example.com", "raj@example.com", "qi@example.com",
                      "sam@example.com", "cfo@example.com"])
    plain_agent: Agent[None, str] = Agent(FunctionModel(script(steps)), tools=[lookup_order])
    model_plain.MODELS["model"] = FunctionModel(script(steps))
    env = await start_dev_server(db=None, port=None, ui=False)
    governed: list[float] = []
    plain: list[float] = []
    durable: list[float] = []
    histories: list[dict[str, Any]] = []
    baseline: dict[str, Any] = {}
    loop_worker = Worker(
        env.client,
        task_queue="bench-plain",
        workflows=[model_plain.PlainModelLoop],
        activities=[model_plain.model_call, model_plain.lookup_order],
        workflow_runner=sandbox_runner("benchmarks"),
    )
    try:
        async with build_worker(env.client, task_queue="bench-model", charters=charters), loop_worker:
            for i in range(repeat + 1):  # the first of each is a warm-up
                started = time.perf_counter()
                workflow_id = await api.start_agent(
                    env.client, charters, AGENT, input={"order_id": 1001, "message": "Look up my orders."},
                    requested_by=REQUESTER, task_queue="bench-model", workflow_id=f"bench-model-{i}",
                )
                handle = env.client.get_workflow_handle(workflow_id)
                result = await handle.result()
                elapsed = time.perf_counter() - started
                assert result["outcome"] == "answered", result
                plain_time = await plain_run(plain_agent)
                started = time.perf_counter()
                loop = await env.client.start_workflow(
                    model_plain.PlainModelLoop.run, "Look up my orders.", id=f"bench-plain-{i}", task_queue="bench-plain"
                )
                await loop.result()
                durable_time = time.perf_counter() - started
                if i:
                    governed.append(elapsed)
                    plain.append(plain_time)
                    durable.append(durable_time)
                    histories.append(history_figures(await handle.fetch_history()))
                    baseline = history_figures(await loop.fetch_history())
    finally:
        await env.shutdown()
    calls = steps + 1
    overhead = [(g - p) / calls * 1000 for g, p in zip(governed, plain, strict=True)]
    governance = [(g - d) / calls * 1000 for g, d in zip(governed, durable, strict=True)]
    return {
        "steps": steps,
        "model_calls": calls,
        "repeat": repeat,
        "mandate_run_s": _summary(governed),
        "plain_run_s": _summary(plain),
        "temporal_run_s": _summary(durable),
        "overhead_per_model_step_ms": _summary(overhead),
        "governance_per_model_step_ms": _summary(governance),
        "history": histories[0],
        "temporal_history": baseline,
        "histories_identical_in_size": len({h["history_bytes"] for h in histories}) == 1,
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _print(figures: dict[str, Any]) -> None:
    h = figures["history"]
    print(f"{figures['steps']}-step conversation: {figures['model_calls']} model calls, {figures['steps']} tool calls")
    print(f"  history: {h['events']} events, {h['history_bytes']:,} bytes as downloaded; model steps' inputs "
          f"{h['model_input_bytes']:,} bytes (largest {h['largest_model_input_bytes']:,}), results "
          f"{h['model_result_bytes']:,} bytes")
    b = figures["temporal_history"]
    print(f"  plain Temporal loop's history: {b['events']} events, {b['history_bytes']:,} bytes; model calls' inputs "
          f"{b['model_input_bytes']:,} bytes")
    for key, unit, scale in (
        ("mandate_run_s", "s", 1),
        ("temporal_run_s", "s", 1),
        ("plain_run_s", "ms", 1000),
        ("overhead_per_model_step_ms", "ms", 1),
        ("governance_per_model_step_ms", "ms", 1),
    ):
        s = figures[key]
        print(f"  {key}: median {s['median'] * scale:.3f} {unit} (min {s['min'] * scale:.3f}, max {s['max'] * scale:.3f}), "
              f"{figures['repeat']} runs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    figures = asyncio.run(main(options.steps, options.repeat))
    _print(figures)
    if options.json:
        print(json.dumps(figures))
