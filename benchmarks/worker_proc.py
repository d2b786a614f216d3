"""One benchmark worker, in a process of its own: ``python -m benchmarks.worker_proc governed|plain ...``.

- ``governed`` is assembled as ``mandate worker`` assembles it (mandate/cli/app.py ``worker_cmd``):
  ``mandate.client.connect``, ``build_worker`` over the benchmark's charters and the agents of
  ``benchmarks.app:app`` (a ``MandateApp``, loaded as ``--app`` loads one), then
  ``start_monitors`` for every served agent, so each agent's kill-criteria monitor runs here as it
  does beside the product's worker.
- ``plain`` serves the plain workflow with the SDK's defaults except what ``build_worker`` sets for
  the governed side: the same sandbox runner (``sandbox_runner("benchmarks")``: the SDK's default
  restrictions with ``mandate`` and ``benchmarks`` passed through), ``max_concurrent_activities``
  and ``max_cached_workflows``.

Both log at WARNING, as ``mandate worker`` does by default. An activity interceptor writes one line
per event to the file descriptor ``--hints-fd`` (a pipe the benchmark's client reads): ``done`` when
the run's last read activity has finished (the approver's cue to look for the request) and
``start`` with ``time.time()`` when the write activity starts (the end of the approval latency).
A line is shorter than PIPE_BUF, so the write is atomic. ``ready`` is written once the worker polls.
The process stops on SIGTERM or when its stdin closes (the benchmark ended or died).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from typing import Any

from temporalio import activity
from temporalio import client as tclient
from temporalio import worker as tworker

HINT_DONE = {"check_refund_policy", "raw_check_refund_policy"}
HINT_START = {"issue_refund", "raw_issue_refund"}


class Hinter(tclient.Interceptor, tworker.Interceptor):
    """Tells the benchmark's client, through a pipe, when a watched activity finished or started.

    A client interceptor that is also a worker interceptor is installed on every worker built from
    that client, so ``build_worker`` (which takes no interceptors) gets it too.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, *parts: str) -> None:
        os.write(self.fd, ("\t".join(parts) + "\n").encode())

    def intercept_activity(self, next: tworker.ActivityInboundInterceptor) -> tworker.ActivityInboundInterceptor:
        return _Hint(next, self)


class _Hint(tworker.ActivityInboundInterceptor):
    def __init__(self, next: tworker.ActivityInboundInterceptor, owner: Hinter) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: tworker.ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type in HINT_START:
            self._owner.send("start", info.workflow_id or "", info.activity_type, repr(time.time()))
        try:
            return await super().execute_activity(input)
        finally:
            if info.activity_type in HINT_DONE:
                self._owner.send("done", info.workflow_id or "", info.activity_type)


def _governed(client: tclient.Client, task_queue: str, profile: bool) -> tworker.Worker:
    from benchmarks.bench_agents import bench_charters
    from mandate.app import load_apps, workflows_by_type
    from mandate.worker import build_worker

    workflows = workflows_by_type(load_apps(["benchmarks.app:app"], entry_points=False))
    charters = bench_charters(profile=profile)
    # "benchmarks" is passed through the sandbox as "mandate" is, so the benchmark agent costs a run what
    # the shipped refund agent (mandate.workflows.refund_agent) does.
    return build_worker(
        client, task_queue=task_queue, charters=charters, workflows=workflows, passthrough_modules=["benchmarks"]
    )


def _plain(client: tclient.Client, task_queue: str) -> tworker.Worker:
    from benchmarks.raw_shared import RAW_ACTIVITIES
    from benchmarks.raw_workflow import RawRefund
    from mandate.settings import load_settings
    from mandate.worker.build import sandbox_runner

    return tworker.Worker(
        client,
        task_queue=task_queue,
        workflows=[RawRefund],
        activities=RAW_ACTIVITIES,
        max_concurrent_activities=100,  # as build_worker
        max_cached_workflows=load_settings().max_cached_runs,  # as build_worker
        workflow_runner=sandbox_runner("benchmarks"),  # as build_worker(passthrough_modules=["benchmarks"])
    )


async def serve(args: argparse.Namespace) -> None:
    from benchmarks.bench_agents import bench_charters
    from mandate.client import connect
    from mandate.worker import start_monitors

    hinter = Hinter(args.hints_fd)
    client = await connect(args.target, namespace=args.namespace, interceptors=[hinter])
    if args.side == "governed":
        worker = _governed(client, args.task_queue, args.profile)
    else:
        worker = _plain(client, args.task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:  # the benchmark closed our stdin, or died
        if not os.read(stdin, 4096):
            loop.remove_reader(stdin)
            stop.set()

    loop.add_reader(stdin, on_stdin)
    async with worker:
        if args.side == "governed":
            await start_monitors(client, bench_charters(profile=args.profile), task_queue=args.task_queue)
        hinter.send("ready", str(os.getpid()))
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=["governed", "plain"])
    parser.add_argument("--target", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--hints-fd", type=int, required=True)
    parser.add_argument("--profile", action="store_true", help="also serve the ablation variant's agent")
    args = parser.parse_args()
    from mandate.logging import configure_logging

    configure_logging("console", "WARNING")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
