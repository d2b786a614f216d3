"""``run.py --profile``: what parts of governance cost a run, measured through supported paths only.

Two extra sides join the overhead comparison:

- ``input-mandate`` (``variants/input_mandate.py``): the charter and tool catalogue come in the
  run's input instead of the ``mandate.load_mandate`` local activity, so the run records no marker
  and makes no local-activity round trip. It overrides ``GovernedAgent._load_mandate``, the one
  method documented for subclasses to override. Started and approved like the governed side.
- ``governed-direct``: the benchmark agent itself, started with ``client.start_workflow`` and the
  start search attributes (no pause check against the agent's monitor) and approved with the
  ``approve`` signal the Web UI sends (no describe, no worker check, no update): what the CLI's
  code paths add on top of the workflow.

Dropped, because they needed private methods of ``GovernedAgent`` overridden: ``no-upserts``
(``_publish``), ``no-timer`` (``_wait_for_decision``) and ``lean`` (both, plus the mandate in the
input). What the search-attribute writes and the approval timer cost is read from the history
instead (events, visibility writes and bytes per run: ``measures/history.py``), not timed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mandate.charter import Charter

__all__ = ["MANDATE_KEY", "PROFILE_SIDES", "mandate_for"]

MANDATE_KEY = "_mandate"

#: the sides ``--profile`` adds to the overhead comparison (``benchmarks/sides.py`` defines them)
PROFILE_SIDES = ("input-mandate", "governed-direct")


def mandate_for(agent: str, charters: Mapping[str, Charter]) -> dict[str, Any]:
    """What ``mandate.load_mandate`` returns for ``agent``, as input JSON."""
    from mandate.keys import load_keys
    from mandate.tools import registry
    from mandate.worker.build import mandate_of
    from mandate.worker.start_check import keys_for

    mandate = mandate_of(charters[agent], registry)
    mandate.keys = keys_for(charters[agent], load_keys())  # the keys its decisions are verified with
    return mandate.model_dump(mode="json")
