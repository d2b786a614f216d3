"""The wheel a user installs: built from this checkout, installed non-editable into a fresh virtual
environment outside it, and run from an empty directory, as the Dockerfile and a `pip install mandate`
would. An editable install hides a package left out of the wheel; this does not.

Slow (a wheel build and a venv, about 20 s with a warm pip cache), so marked `slow`; it runs by default.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HISTORY = REPO / "tests" / "histories" / "refund-approved.json"
LAYERS = ("workflows", "activities", "worker", "approvals")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    workdir: Path

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd or self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": f"{self.bin}:/usr/bin:/bin", "MANDATE_HOME": str(self.workdir / ".mandate"), "HOME": str(self.workdir)},
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("mandate-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    workdir = root / "empty"
    workdir.mkdir()
    yield Installed(wheel=wheel, bin=venv / "bin", workdir=workdir)


def test_the_wheel_installs_one_import_root_holding_every_module(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        roots = wheel.read(top_level).decode().split()
    assert roots == ["mandate"], f"the wheel installs import roots {roots}"
    expected = {f"mandate/{p.relative_to(REPO / 'mandate').as_posix()}" for p in (REPO / "mandate").glob("*.py")}
    for layer in (*LAYERS, "cli", "review"):
        folder = REPO / layer if layer in LAYERS else REPO / "mandate" / layer
        expected |= {f"mandate/{layer}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*.py")}
    expected |= {f"mandate/charters/{p.name}" for p in (REPO / "charters").glob("*.toml")}
    missing = sorted(expected - names)
    assert not missing, f"the wheel leaves out {missing}"


def test_no_generic_top_level_name_is_importable_from_the_install(installed: Installed) -> None:
    probe = f"import importlib.util as u; print([n for n in {LAYERS!r} if u.find_spec(n)])"
    done = installed.run("python", "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    ok = installed.run("python", "-c", "import mandate.workflows.governed, mandate.worker, mandate.review; print('ok')")
    assert ok.stdout.strip() == "ok", ok.stderr


def test_commands_run_from_the_wheel_outside_the_checkout(installed: Installed) -> None:
    helped = installed.run("mandate", "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("dev", "worker", "start", "approve", "audit", "replay", "demo", "init"):
        assert command in helped.stdout, f"`mandate --help` does not list {command}"

    audited = installed.run("mandate", "audit")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "refund-agent" in audited.stdout and "ready" in audited.stdout
    assert "site-packages/mandate/charters/refund-agent.toml" in audited.stdout, (
        "with no charters folder of its own, the audit reads the charter the package ships"
    )

    replayed = installed.run("mandate", "replay", "--history", str(HISTORY))
    assert replayed.returncode == 0, replayed.stderr
    assert "replays cleanly" in replayed.stderr
    assert "# Incident report: refund-approved" in replayed.stdout


def test_an_unknown_app_is_one_line_naming_it(installed: Installed) -> None:
    done = installed.run("mandate", "audit", "--app", "no_such_agents")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: --app no_such_agents: cannot import no_such_agents: ModuleNotFoundError: No module named 'no_such_agents'"
    )
