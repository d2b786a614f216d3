"""Settings come from the environment; a value that is not usable falls back to the default."""

from __future__ import annotations

import pytest

from mandate.settings import DEFAULT_MAX_CACHED_RUNS, DEFAULT_TASK_QUEUE, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MANDATE_HOME", "MANDATE_CHARTERS", "MANDATE_TASK_QUEUE", "MANDATE_MAX_CACHED_RUNS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (str(settings.home), settings.charters_dir) == (".mandate", None)
    assert settings.task_queue == DEFAULT_TASK_QUEUE
    assert settings.max_cached_runs == DEFAULT_MAX_CACHED_RUNS == 2500


@pytest.mark.parametrize(("raw", "expected"), [("10000", 10000), (" 300 ", 300), ("lots", 2500), ("-5", 2500)])
def test_max_cached_runs_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv("MANDATE_MAX_CACHED_RUNS", raw)
    assert load_settings().max_cached_runs == expected
