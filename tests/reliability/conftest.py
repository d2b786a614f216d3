"""The reliability suite: real processes against a real server, bounded in time, cleaning up after itself.

Tests marked ``slow`` (the 1,000-run load test, the server restarts, the kill with writes in
flight, which waits out the shop tools' one-minute attempt timeout) run by default: the whole suite
fits CI's budget. ``-m "not slow"`` leaves them out for a quicker look.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.reliability._harness import MANDATE, TEMPORAL, Stack

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(str(item.path)).resolve().parents]
    if not (MANDATE and TEMPORAL):
        missing = pytest.mark.skip(reason="`mandate` / `temporal` executables not installed")
        for item in ours:
            item.add_marker(missing)
        return


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A fresh dev server (own SQLite file), no worker yet; everything killed at teardown."""
    st = Stack(tmp_path / "stack")
    try:
        await st.start_server()
        yield st
    finally:
        st.close()


@pytest_asyncio.fixture(scope="module")
async def module_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One server and one worker shared by a module's tests (each uses its own orders)."""
    st = Stack(tmp_path_factory.mktemp("stack"))
    try:
        await st.start_server()
        await st.start_worker()
        yield st
    finally:
        st.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.reliability._harness import kill_leftovers

    kill_leftovers()
