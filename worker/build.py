"""Assembling a worker from charters: which agents it serves, with which tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from mandate.activities.metrics import MonitorActivities
from mandate.activities.monitor_history import PredecessorActivities
from mandate.authority import Policy
from mandate.charter import Charter
from mandate.contract import LOAD_MANDATE_ACTIVITY, monitor_id
from mandate.converter import client_with_mandate_converter
from mandate.errors import AgentNotFoundError, KeysError
from mandate.keys import load_keys
from mandate.run import GOVERNED_PROTOCOL, AgentMandate, LoadMandateInput
from mandate.settings import DEFAULT_TASK_QUEUE, load_settings
from mandate.tools import ToolRegistry, registry
from mandate.worker._planners import effective_charter, planner_activities, tool_info
from mandate.worker.callers import Callers
from mandate.worker.start_check import StartCheck, keys_for
from mandate.worker.tool_guard import CharterGuard
from mandate.workflows.governed import GovernedAgent
from mandate.workflows.monitor import KillMonitor, MonitorInput

__all__ = ["MandateActivities", "ServedAgents", "plan_agents", "build_worker", "start_monitors"]

_log = structlog.get_logger("mandate.worker")


class MandateActivities:
    """Activities Mandate itself needs, bound to the worker's charters and tools."""

    def __init__(
        self, charters: Mapping[str, Charter], tools: ToolRegistry, client: Client | None = None, callers: Callers | None = None
    ) -> None:
        self._callers = callers
        self._charters = dict(charters)
        self._tools = tools
        self._start = StartCheck(client)

    @activity.defn(name=LOAD_MANDATE_ACTIVITY)
    async def load_mandate(self, request: LoadMandateInput) -> AgentMandate:
        """The run's charter, tools and keys; for an agent run, also whether it may start at all.

        Only ever a local activity of a workflow this worker runs: one scheduled on the task queue by
        anyone else's workflow would learn nothing secret, but would have the worker check a start for it.
        """
        if not activity.info().is_local:
            raise ApplicationError(
                f"{LOAD_MANDATE_ACTIVITY} runs only as a local activity of Mandate's own workflows",
                type="CallerRefused",
                non_retryable=True,
            )
        charter = self._charters.get(request.agent)
        if charter is None:
            raise ApplicationError(
                f"this worker serves no agent named {request.agent!r}",
                type="AgentNotServed",
                non_retryable=True,
            )
        try:
            keys = load_keys()
        except KeysError as err:
            raise ApplicationError(str(err), type="KeysError") from None
        mandate = mandate_of(charter, self._tools)
        mandate.keys = keys_for(charter, keys, request.requested_by)
        info = activity.info()
        mandate.namespace = info.workflow_namespace or ""
        mandate.workflow_id = info.workflow_id or ""
        if request.requested_by is not None:  # an agent's run (the monitor loads its charter too)
            mandate.refused = await self._start.refusal(
                request, namespace=info.workflow_namespace or "", workflow_id=info.workflow_id or "", keys=keys
            )
            if self._callers is not None:
                self._callers.loaded(info, protocol=mandate.protocol, verified_start=mandate.refused is None)
        return mandate


def mandate_of(charter: Charter, tools: ToolRegistry) -> AgentMandate:
    """What a run of the charter's agent is governed by: the charter, its tools and their compensations."""
    charter, infos = effective_charter(charter), {}  # MANDATE_MODEL(_<AGENT>) overrides a [model]
    for name in charter.tools:
        spec = tools.get(name)
        if spec is not None:
            infos[name] = tool_info(spec, charter)  # with its argument schema when a model reads it
            if spec.compensation and (comp := tools.get(spec.compensation)):
                infos[comp.name] = comp.info()
    return AgentMandate(charter=charter, tools=infos, protocol=GOVERNED_PROTOCOL)


@dataclass(frozen=True)
class ServedAgents:
    workflows: list[type[GovernedAgent]]
    charters: dict[str, Charter]


def plan_agents(
    charters: Mapping[str, Charter],
    workflows: Mapping[str, type[GovernedAgent]] | None = None,
) -> ServedAgents:
    """Match charters to agent workflows; a charter naming an unknown workflow is an error.

    ``workflows`` defaults to every agent the installed packages offer (``mandate.app``).
    """
    if workflows is None:
        from mandate.worker.agents import discover

        workflows = discover().workflows
    served: list[type[GovernedAgent]] = []
    kept: dict[str, Charter] = {}
    for name, charter in charters.items():
        cls = workflows.get(charter.workflow)
        if cls is None:
            raise AgentNotFoundError(
                f"charter {name!r} names workflow {charter.workflow!r}, which no agent defines "
                f"(known: {', '.join(sorted(workflows)) or 'none'}); install the package that defines it "
                "or name its module with --app"
            )
        if cls.agent != name:
            raise AgentNotFoundError(
                f"charter {name!r} names workflow {charter.workflow!r}, which belongs to agent {cls.agent!r}"
            )
        served.append(cls)
        kept[name] = charter
    return ServedAgents(workflows=served, charters=kept)


def build_worker(
    client: Client,
    *,
    task_queue: str,
    charters: Mapping[str, Charter],
    tools: ToolRegistry = registry,
    workflows: Mapping[str, type[GovernedAgent]] | None = None,
    max_concurrent_activities: int = 100,
    max_cached_runs: int | None = None,
    passthrough_modules: Sequence[str] = (),
) -> Worker:
    """A worker serving every agent that has both a charter and a workflow.

    The worker decodes with Mandate's data converter (``mandate.converter``) whatever converter
    ``client`` was built with: a named signal whose input is not JSON then reaches the run, which
    refuses and records it, instead of being dropped by the SDK. ``max_cached_runs`` defaults to
    ``MANDATE_MAX_CACHED_RUNS`` (2,500). ``passthrough_modules`` names more packages whose agent
    workflows the sandbox should import once rather than once per run, as it does Mandate's own;
    they must keep no mutable module state.
    """
    client = client_with_mandate_converter(client)
    tools.validate()
    plan = plan_agents(charters, workflows)
    if not plan.workflows:
        raise AgentNotFoundError("no agent to serve: the charters directory has no charter")
    callers = Callers(client, task_queue)
    mandate_activities = MandateActivities(plan.charters, tools, client, callers)
    agents_by_type = {
        workflow._Definition.must_from_class(cls).name or "": cls.agent for cls in plan.workflows
    }
    monitor_activities = MonitorActivities(client, agents=plan.charters, callers=callers)
    _log.info(
        "worker_built",
        task_queue=task_queue,
        agents=sorted(plan.charters),
        tools=served_tools(plan.charters, tools),
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*plan.workflows, KillMonitor],
        activities=[
            *tools.activities(
                served_tools(plan.charters, tools), guard=CharterGuard(plan.charters, agents_by_type, callers)
            ),
            mandate_activities.load_mandate,
            monitor_activities.compute,
            monitor_activities.enforce,
            PredecessorActivities(client, agents=plan.charters, callers=callers).predecessor_pause,
            *planner_activities(plan.workflows, plan.charters, tools, callers),  # mandate.model_step, planners' own
        ],
        max_concurrent_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_runs or load_settings().max_cached_runs,
        workflow_runner=sandbox_runner(*passthrough_modules),
    )


def served_tools(charters: Mapping[str, Charter], tools: ToolRegistry) -> list[str]:
    """The tools a served charter allows or gates, with their compensations: the only ones registered.

    A tool every charter blocks, or that no charter names, is no activity of this worker's: a workflow
    of someone else's on this task queue cannot call it.
    """
    names: set[str] = set()
    for charter in charters.values():
        for name in charter.tools:
            spec = tools.get(name)
            if spec is None or charter.policy_for(name).policy is Policy.BLOCK:
                continue
            names.add(name)
            if spec.compensation:
                names.add(spec.compensation)
    return sorted(names)


def sandbox_runner(*more: str) -> SandboxedWorkflowRunner:
    """The default sandbox, with Mandate's own packages passed through.

    They keep no mutable module state that runs could share, and re-importing them for
    every run cost about 2 ms of CPU per run (benchmarks/README.md).
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            # cryptography too: its Rust core must never import its exception classes under the
            # sandbox's module table (a native abort; mandate.statements says more).
            "mandate", "cryptography", *more
        )
    )


async def start_monitors(
    client: Client, charters: Mapping[str, Charter], *, task_queue: str = DEFAULT_TASK_QUEUE
) -> list[str]:
    """Start each agent's kill-criteria monitor unless it already runs here (safe on every worker start).

    A run already at the monitor's id is adopted only when it is a ``MandateMonitor`` on ``task_queue``;
    anything else is an impostor: logged as ``monitor_impostor`` (error), left alone, no second monitor
    started, and this worker refuses the agent's starts until someone ends it and restarts the worker. A
    monitor that has ended (terminated by someone) is started again with the pause it last published, not
    unpaused. Returns the ids of the monitors that now run here.
    """
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from mandate.api.fleet import (
        MONITOR_ENDED,
        MONITOR_IMPOSTOR,
        MonitorNotGuarding,
        genuine_monitor,
        last_pause,
    )
    from mandate.worker.start_check import keeps_monitor

    started = []
    for agent in sorted(charters):
        keeps_monitor(client.namespace, task_queue, agent)  # from here, no monitor refuses the agent's starts
        for _ in range(3):  # another worker may start it between our look and our start
            try:
                await genuine_monitor(client, agent, task_queue=task_queue)
            except MonitorNotGuarding as problem:
                missing = problem
            else:
                started.append(monitor_id(agent))  # it runs here already: adopted
                break
            if missing.alert == MONITOR_IMPOSTOR:
                _log.error(MONITOR_IMPOSTOR, agent=agent, workflow_id=missing.workflow_id, problem=str(missing))
                break
            pause = await last_pause(client, agent, task_queue=task_queue)
            try:
                handle = await client.start_workflow(
                    KillMonitor.run,
                    MonitorInput(agent=agent, pause=pause),
                    id=monitor_id(agent),
                    task_queue=task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                )
            except WorkflowAlreadyStartedError:
                continue
            if missing.alert == MONITOR_ENDED:  # someone ended the monitor: its pause goes on
                _log.warning("monitor_restarted", agent=agent, workflow_id=handle.id, paused=pause is not None)
            started.append(handle.id)
            break
    _log.info("monitors_running", monitors=started)
    return started
