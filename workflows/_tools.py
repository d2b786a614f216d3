"""Calling a tool from a run: whether the charter lets it, its activity, timeout and retries."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

from mandate.authority import Policy
from mandate.charter import Charter, ToolPolicy
from mandate.run import AgentMandate, Step, ToolCallInput, ToolCallResult, ToolInfo
from mandate.statements import SignedStatement

__all__ = ["TOOL_TIMEOUT", "TOOL_RETRY", "blocked_because", "call_tool", "tool_timeout", "error_message"]

#: One attempt's start-to-close timeout for a tool that declares none (and for runs recorded before
#: tools declared it, so their histories replay unchanged).
TOOL_TIMEOUT = timedelta(minutes=5)
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["InvalidToolArguments", "ToolRefused"],
)


def blocked_because(tool: str, info: ToolInfo | None, rule: ToolPolicy, charter: Charter) -> str | None:
    """Why the charter blocks a call of ``tool`` (``info`` is None when no such tool is registered), or None."""
    if info is None:
        return "no such tool is registered"
    if rule.policy is not Policy.BLOCK:
        return None
    return "blocked by the charter" if tool in charter.tools else "not named in the charter (default deny)"


def tool_timeout(mandate: AgentMandate | None, tool: str) -> timedelta:
    """How long one attempt of ``tool`` may run: what the tool declares, else ``TOOL_TIMEOUT``."""
    info = mandate.tools.get(tool) if mandate else None
    return timedelta(seconds=info.timeout_seconds) if info and info.timeout_seconds else TOOL_TIMEOUT


async def call_tool(
    step: Step, *, agent: str, mandate: AgentMandate, authority: SignedStatement | None = None
) -> ToolCallResult:
    """Run a step's tool as its activity; a write's idempotency key and its approval go with it.

    A cancellation of the run waits for the call to end, so a write's outcome is always known.
    """
    return await workflow.execute_activity(
        step.tool,
        ToolCallInput(agent=agent, args=step.args, idempotency_key=step.idempotency_key, authority=authority),
        result_type=ToolCallResult,
        start_to_close_timeout=tool_timeout(mandate, step.tool),
        retry_policy=TOOL_RETRY,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )


def error_message(err: ActivityError) -> str:
    """What an activity's failure says: its ``ApplicationError`` message, or the cause as text."""
    return err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause or err)
