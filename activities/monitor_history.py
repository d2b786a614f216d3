"""The pause an agent's previous monitor held, for a monitor that starts a new chain.

A monitor's pause lives in its own state. Someone who can terminate workflows and start them could end
the agent's monitor and start a fresh one on Mandate's queue with nothing carried: Mandate's worker would
run it, unpaused. So a monitor that begins a chain (not a continue-as-new) asks for the pause the monitor
before it last published (``mandate.api.monitors.last_pause``: from that run's own history, on Mandate's
queue), and keeps it. Only the agent's monitor, on this worker's queue, may ask.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from mandate.api.monitors import last_pause
from mandate.contract import MONITOR_WORKFLOW, PREDECESSOR_PAUSE_ACTIVITY, monitor_id
from mandate.outcomes import PauseState

__all__ = ["PredecessorActivities"]

#: How long visibility may take to list a run that has just ended.
VISIBILITY_LAG_SECONDS = 2.0


class PredecessorActivities:
    def __init__(self, client: Client, *, agents: Collection[str], callers: object) -> None:
        self._client = client
        self._agents = set(agents)
        self._callers = callers  # mandate.worker.callers.Callers

    @activity.defn(name=PREDECESSOR_PAUSE_ACTIVITY)
    async def predecessor_pause(self, agent: str) -> PauseState | None:
        if agent not in self._agents:
            raise ApplicationError(f"this worker serves no agent named {agent!r}", type="CallerRefused", non_retryable=True)
        info = activity.info()
        await self._callers.require(  # type: ignore[attr-defined]
            info, types={MONITOR_WORKFLOW}, what=PREDECESSOR_PAUSE_ACTIVITY, workflow_id=monitor_id(agent)
        )
        queue = self._callers.task_queue  # type: ignore[attr-defined]
        found = await last_pause(self._client, agent, task_queue=queue)
        if found is None:  # a run ended a moment ago may not be listed yet: look once more
            await asyncio.sleep(VISIBILITY_LAG_SECONDS)
            found = await last_pause(self._client, agent, task_queue=queue)
        return found
