"""The benchmark's agents as a ``MandateApp``: how any package plugs its agents into Mandate (mandate/app.py).

The governed worker process loads it as ``--app benchmarks.app:app`` would; importing it registers
the tools the agents call (``@tool`` runs at import), as an agent package's import does. The charters are built in
code (``bench_agents.bench_charters``), not shipped as a folder, so that the benchmark never reads or
writes a charters directory of the developer's.
"""

from __future__ import annotations

import mandate.activities.shop  # noqa: F401  (registers the shop's tools, as an agent package's import does)
from benchmarks.bench_agents import BenchAgent
from benchmarks.kill_agent import BenchKillAgent
from benchmarks.variants.input_mandate import BenchInputMandate
from mandate.app import MandateApp

__all__ = ["app"]

app = MandateApp(agents=[BenchAgent, BenchKillAgent, BenchInputMandate], name="benchmarks")
