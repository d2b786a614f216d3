"""Keys as deployed, through the `mandate` CLI as a user runs it (real subprocesses, no server needed).

A worker serving with a demo keys file (`mandate dev`'s, where anyone who signs on the machine gets a key
on first use) trusts anyone: `mandate worker` refuses one unless told `--allow-demo-keys`, and then says
so. A private keys folder open to other users, or belonging to one, lets them read or plant keys: it is
tightened to 0700 (its keys to 0600) on use, or refused in one line. Nothing listens on 127.0.0.1:1, so a
worker that got past its checks fails on the connection instead, which is how the tests tell.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mandate.keys import DEMO_HEADER
from tests.helpers import one_line_error

BIN = Path(sys.executable).parent
MANDATE = str(BIN / "mandate")
CHARTERS = str(Path(__file__).resolve().parent.parent / "charters")
NOWHERE = "127.0.0.1:1"
UNREACHABLE = f"cannot reach Temporal at {NOWHERE}"


def _env(home: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MANDATE_", "PYTEST_"))}
    return {**env, "MANDATE_HOME": str(home), **more}


def mandate(home: Path, *args: str, umask: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MANDATE, *args],
        env=_env(home, **env),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=home.parent,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,  # noqa: PLW1509
    )


def worker(home: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return mandate(home, "worker", "--charters", CHARTERS, "--address", NOWHERE, *flags, **env)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def demo_home(tmp_path: Path) -> Path:
    """A home whose keys file is the one `mandate dev` writes before it adds anyone's key."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "keys.toml").write_text(DEMO_HEADER, encoding="utf-8")
    return home


# --------------------------------------------------------------------------- demo keys and `mandate worker`


def test_worker_refuses_a_demo_keys_file_in_one_line_saying_how_to_fix_it(tmp_path: Path) -> None:
    home = demo_home(tmp_path)
    refused = worker(home)
    line = one_line_error(refused)
    assert f"{home / 'keys.toml'} is a demo keys file" in line, line
    assert "mandate keys new" in line and "--allow-demo-keys" in line, line
    assert UNREACHABLE not in refused.stderr and refused.stdout == "", refused  # refused before connecting

    # The same file named by MANDATE_KEYS from elsewhere is refused the same way.
    elsewhere = tmp_path / "other-home"
    elsewhere.mkdir()
    line = one_line_error(worker(elsewhere, MANDATE_KEYS=str(home / "keys.toml")))
    assert "is a demo keys file" in line, line


def test_allow_demo_keys_serves_with_a_loud_warning(tmp_path: Path) -> None:
    allowed = worker(demo_home(tmp_path), "--allow-demo-keys")
    warnings = [line for line in allowed.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "DEMO KEYS" in warnings[0] and "never on a real deployment" in warnings[0], allowed
    # past the gate: it failed only because nothing listens there
    assert allowed.returncode == 1 and UNREACHABLE in allowed.stderr, allowed.stderr


def test_a_worker_with_real_keys_needs_no_flag(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = mandate(home, "keys", "new", "--as", "mandate-monitor")
    assert made.returncode == 0, made.stderr
    assert "demo" not in (home / "keys.toml").read_text()
    served = worker(home)
    assert served.returncode == 1 and UNREACHABLE in served.stderr, served.stderr
    assert "demo" not in served.stderr.lower(), served.stderr


def test_keys_new_with_a_read_only_keys_file_prints_the_entry_for_the_risk_owner(tmp_path: Path) -> None:
    """As in the compose stack: the monitor's key made on the worker's volume, the keys file read-only."""
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    keys_file = trusted / "keys.toml"
    keys_file.write_text("# the risk owner's\n")
    keys_file.chmod(0o444)
    trusted.chmod(0o555)
    if os.access(keys_file, os.W_OK):  # root writes through any mode; sysfs takes no new file, even from root
        keys_file = Path("/sys/mandate-test-keys.toml")
        try:
            keys_file.open("a").close()
        except OSError:
            pass  # not writable: as wanted
        else:
            keys_file.unlink()
            pytest.skip("no keys file this user cannot write")
    home = tmp_path / "home"
    made = mandate(home, "keys", "new", "--as", "mandate-monitor", MANDATE_KEYS=str(keys_file))
    assert made.returncode == 0, made.stderr
    assert "for the risk owner to add" in made.stdout and 'person = "mandate-monitor"' in made.stdout, made
    assert made.stderr.startswith("warning: ") and made.stderr.count("\n") == 1, made.stderr
    assert [p.name.split("--")[0] for p in (home / "keys").iterdir()] == ["mandate-monitor"]


# --------------------------------------------------------------------------- the private keys folder


def test_new_keys_are_0600_in_a_0700_folder_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = mandate(home, "keys", "new", "--as", "raj@example.com", umask=0)
    assert made.returncode == 0, made.stderr
    folder = home / "keys"
    assert mode(folder) == 0o700
    assert [mode(p) for p in folder.iterdir()] == [0o600]


def test_a_loose_keys_folder_and_key_are_tightened_on_use(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert mandate(home, "keys", "new", "--as", "raj@example.com").returncode == 0
    folder = home / "keys"
    (old,) = folder.iterdir()
    folder.chmod(0o755)  # as a copy or a hand-made folder leaves it
    old.chmod(0o644)

    made = mandate(home, "keys", "new", "--as", "sam@example.com")
    assert made.returncode == 0, made.stderr
    assert mode(folder) == 0o700
    assert {p.name.split("--")[0]: mode(p) for p in folder.iterdir()} == {
        "raj@example.com": 0o600,
        "sam@example.com": 0o600,
    }
    assert "was open to other users (mode 0644), now 0600" in made.stderr, made.stderr  # a key may have leaked

    # `mandate worker` looks at the folder holding the monitor's key before it serves.
    folder.chmod(0o770)
    served = worker(home)
    assert served.returncode == 1 and UNREACHABLE in served.stderr, served.stderr
    assert mode(folder) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user takes root")
def test_a_keys_folder_of_another_user_is_refused_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert mandate(home, "keys", "new", "--as", "mandate-monitor").returncode == 0
    folder = home / "keys"
    os.chown(folder, 65534, 65534)  # nobody's: they could swap the keys in it
    folder.chmod(0o755)

    for refused in (mandate(home, "keys", "new", "--as", "raj@example.com"), worker(home)):
        line = one_line_error(refused)
        assert f"{folder}: the private keys folder belongs to another user (uid 65534)" in line, line
        assert UNREACHABLE not in refused.stderr, refused
    assert mode(folder) == 0o755 and folder.stat().st_uid == 65534  # not taken over: refused
    assert len(list(folder.iterdir())) == 1  # and no key added to it
