"""The production stack's files, checked the way a user relies on them (no Docker needed).

docker-compose.yml must run Temporal on PostgreSQL with the UI, register Mandate's
search attributes once (`mandate setup`) and then start the worker built from the
repository's Dockerfile; the worker's connection settings must reach the SDK's
``temporalio.envconfig`` so that the same image also runs against Temporal Cloud.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.envconfig import ClientConfig

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = ("postgresql", "temporal", "temporal-ui", "mandate-setup", "mandate-worker")
MANDATE_SERVICES = ("mandate-setup", "mandate-worker")


# --- helpers: read the files as Compose and Docker would -----------------------------------------


def _compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a YAML mapping"
    assert isinstance(data.get("services"), dict), "docker-compose.yml has no `services:` mapping"
    return data


def _service(name: str) -> dict[str, Any]:
    services = _compose()["services"]
    assert name in services, f"service {name!r} is missing from docker-compose.yml (has {sorted(services)})"
    service = services[name]
    assert isinstance(service, dict), f"service {name!r} must be a mapping"
    return service


def _environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    """`environment:` as a dict, from either the list or the mapping form (None = pass through)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, str | None] = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            out[key] = value if sep else None
        return out
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


_VAR = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>\w+)")


def _interpolate(value: str, shell: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` substitution against `shell`."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("name") or m.group("bare")
        op = m.group("op")
        current = shell.get(name)
        if op == ":-" and not current:
            return m.group("default")
        if op == "-" and current is None:
            return m.group("default")
        return current or ""

    return _VAR.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def _container_env(name: str, shell: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the container of service `name` starts with, given the user's shell."""
    shell = shell or {}
    out: dict[str, str] = {}
    for key, value in _environment(_service(name)).items():
        if value is None:  # no value: taken from the shell, or left unset
            if key in shell:
                out[key] = shell[key]
        else:
            out[key] = _interpolate(value, shell)
    return out


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """`depends_on:` as {service: condition}, from the list or the long form."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(d): "service_started" for d in deps}
    return {str(k): (v or {}).get("condition", "service_started") for k, v in deps.items()}


def _published_ports(service: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(host port, container port) pairs from short (`"7233:7233"`) or long port syntax."""
    pairs: set[tuple[str, str]] = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((str(port.get("published", "")), str(port.get("target", ""))))
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            pairs.add(("", parts[0]))
        else:
            pairs.add((parts[-2], parts[-1]))
    return pairs


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _volume_mounts(service: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for each of the service's volumes."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append(
                (str(volume.get("source", "")), str(volume.get("target", "")), bool(volume.get("read_only")))
            )
            continue
        parts = str(volume).split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        options = parts[2].split(",") if len(parts) > 2 else []
        mounts.append((source, target, "ro" in options))
    return mounts


def _dockerfile_for(service_name: str) -> Path:
    build = _service(service_name).get("build")
    assert build is not None, f"{service_name} must be built from the repository (`build:`), not only pulled"
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    return (COMPOSE_FILE.parent / context / dockerfile).resolve()


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuation lines joined."""
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    out = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def _exec_args(args: str) -> list[str]:
    """CMD/ENTRYPOINT arguments in exec (JSON) or shell form."""
    try:
        parsed = json.loads(args)
    except ValueError:
        return shlex.split(args)
    return [str(a) for a in parsed] if isinstance(parsed, list) else shlex.split(args)


def _last(instructions: list[tuple[str, str]], name: str) -> str | None:
    found = [args for instruction, args in instructions if instruction == name]
    return found[-1] if found else None


# --- the compose stack -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_exists(name: str) -> None:
    _service(name)


def test_postgresql_is_healthchecked_and_keeps_its_data() -> None:
    pg = _service("postgresql")
    assert str(pg.get("image", "")).startswith("postgres:"), f"postgresql runs {pg.get('image')!r}"
    assert "latest" not in str(pg.get("image")), "pin the postgres image tag"
    test = pg.get("healthcheck", {}).get("test")
    assert test and "pg_isready" in " ".join(test if isinstance(test, list) else [test]), (
        "postgresql needs a pg_isready healthcheck: temporal waits for it to be healthy"
    )
    named_volumes = set((_compose().get("volumes") or {}).keys())
    data_mounts = [src for src, target, _ in _volume_mounts(pg) if target == "/var/lib/postgresql/data"]
    assert data_mounts and data_mounts[0] in named_volumes, (
        "postgresql must keep /var/lib/postgresql/data on a named volume declared under top-level `volumes:`"
    )


def test_temporal_runs_on_postgresql() -> None:
    temporal = _service("temporal")
    assert str(temporal.get("image", "")).startswith("temporalio/auto-setup:"), (
        f"temporal should run temporalio/auto-setup (creates the schema), not {temporal.get('image')!r}"
    )
    env = _container_env("temporal")
    assert env.get("DB", "").startswith("postgres"), (
        f"temporal must use the postgres driver, DB={env.get('DB')!r}"
    )
    assert env.get("POSTGRES_SEEDS") == "postgresql", (
        f"POSTGRES_SEEDS must name the postgresql service, got {env.get('POSTGRES_SEEDS')!r}"
    )
    for key in ("DB_PORT", "POSTGRES_USER", "POSTGRES_PWD"):
        assert env.get(key), f"temporal needs {key} to reach PostgreSQL"
    pg_env = _container_env("postgresql")
    assert env["POSTGRES_USER"] == pg_env.get("POSTGRES_USER", "postgres"), (
        "temporal and postgresql disagree on the user"
    )
    assert env["POSTGRES_PWD"] == pg_env.get("POSTGRES_PASSWORD"), (
        "temporal and postgresql disagree on the password"
    )
    assert _depends_on(temporal).get("postgresql") == "service_healthy", (
        "temporal must wait for postgresql to be healthy (depends_on: postgresql: condition: service_healthy)"
    )


def test_temporal_has_a_healthcheck_for_setup_to_wait_on() -> None:
    test = _service("temporal").get("healthcheck", {}).get("test")
    text = " ".join(test) if isinstance(test, list) else str(test or "")
    assert "temporal operator" in text or "tctl" in text, (
        f"temporal needs a healthcheck using the temporal CLI or tctl, got {text!r}"
    )


def test_images_are_pinned() -> None:
    for name in ("postgresql", "temporal", "temporal-ui"):
        image = str(_service(name).get("image", ""))
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and tag != "latest", f"{name} image {image!r} must be pinned to a version tag"


def test_temporal_grpc_port_is_published_on_loopback_only() -> None:
    ports = _service("temporal").get("ports") or []
    assert ("7233", "7233") in _published_ports(_service("temporal")), (
        "temporal must publish 7233:7233 so `mandate` on the host can reach it"
    )
    assert all(str(p).startswith("127.0.0.1:") for p in ports), f"temporal must bind to 127.0.0.1, not {ports}"


def test_temporal_runs_with_payload_and_history_limits_below_the_defaults() -> None:
    import yaml

    env = _container_env("temporal")
    mounted = {str(v).split(":")[1]: str(v).split(":")[0] for v in _service("temporal").get("volumes") or []}
    target = "/etc/temporal/" + env.get("DYNAMIC_CONFIG_FILE_PATH", "")
    assert target in mounted, f"the dynamic config {target} must be mounted, volumes: {mounted}"
    config = yaml.safe_load((ROOT / mounted[target]).read_text())
    assert config["limit.blobSize.error"][0]["value"] <= 512 * 1024
    assert config["limit.historySize.error"][0]["value"] < 50 * 1024 * 1024
    # The same limits as `mandate dev` and every test server (tests/reliability/test_floods.py shows them hold).
    from mandate.worker.dev_server import SERVER_LIMITS

    assert {key: config[key][0]["value"] for key in SERVER_LIMITS} == SERVER_LIMITS
    signals, blob = SERVER_LIMITS["history.maximumSignalsPerExecution"], SERVER_LIMITS["limit.blobSize.error"]
    assert signals * blob < SERVER_LIMITS["limit.historySize.error"] * 0.75, "a flood of signals could end a run"


def test_ui_is_published_on_8080_and_talks_to_temporal() -> None:
    ui = _service("temporal-ui")
    assert str(ui.get("image", "")).startswith("temporalio/ui:"), f"temporal-ui runs {ui.get('image')!r}"
    assert ("8080", "8080") in _published_ports(ui), (
        "temporal-ui must publish 8080:8080 (http://localhost:8080)"
    )
    assert all(str(p).startswith("127.0.0.1:") for p in ui.get("ports") or []), "the UI must bind to 127.0.0.1"
    assert _container_env("temporal-ui").get("TEMPORAL_ADDRESS") == "temporal:7233", (
        "temporal-ui must reach the server at TEMPORAL_ADDRESS=temporal:7233"
    )


@pytest.mark.parametrize("name", MANDATE_SERVICES)
def test_mandate_services_build_from_the_repository_dockerfile(name: str) -> None:
    dockerfile = _dockerfile_for(name)
    assert dockerfile == DOCKERFILE.resolve(), f"{name} builds from {dockerfile}, expected {DOCKERFILE}"
    assert dockerfile.is_file(), f"{name} builds from {dockerfile}, which does not exist"


@pytest.mark.parametrize("name", MANDATE_SERVICES)
def test_mandate_services_connect_to_the_temporal_service(name: str) -> None:
    env = _container_env(name)  # an empty shell: the defaults a user gets
    assert env.get("TEMPORAL_ADDRESS") == "temporal:7233", (
        f"{name} must get TEMPORAL_ADDRESS=temporal:7233 by default, got {env.get('TEMPORAL_ADDRESS')!r}"
    )
    assert env.get("TEMPORAL_NAMESPACE") == "default", (
        f"{name} must get TEMPORAL_NAMESPACE=default by default, got {env.get('TEMPORAL_NAMESPACE')!r}"
    )
    # What the SDK makes of that environment inside the container: a plaintext
    # connection to the compose server (an empty TEMPORAL_API_KEY or TEMPORAL_TLS
    # would switch TLS on and the connection would fail).
    config = ClientConfig.load_client_connect_config(disable_file=True, override_env_vars=env)
    assert config.get("target_host") == "temporal:7233", f"{name}: envconfig sees {config}"
    assert config.get("namespace") == "default", f"{name}: envconfig sees {config}"
    assert not config.get("tls") and not config.get("api_key"), (
        f"{name}: with no Cloud settings in the shell the connection must be plaintext, "
        f"envconfig sees {config}"
    )


@pytest.mark.parametrize("name", MANDATE_SERVICES)
def test_mandate_services_pass_temporal_cloud_settings_through(name: str) -> None:
    shell = {
        "TEMPORAL_ADDRESS": "acme.a1b2c.tmprl.cloud:7233",
        "TEMPORAL_NAMESPACE": "acme.a1b2c",
        "TEMPORAL_API_KEY": "secret-key",
    }
    env = _container_env(name, shell)
    for key, value in shell.items():
        assert env.get(key) == value, (
            f"{name} must take {key} from the user's shell/.env, got {env.get(key)!r}"
        )
    assert "TEMPORAL_TLS" in _environment(_service(name)), f"{name} must pass TEMPORAL_TLS through"
    config = ClientConfig.load_client_connect_config(disable_file=True, override_env_vars=env)
    assert config.get("target_host") == shell["TEMPORAL_ADDRESS"], f"{name}: envconfig sees {config}"
    assert config.get("api_key") == "secret-key" and config.get("tls"), (
        f"{name}: an API key must reach the SDK and turn TLS on, envconfig sees {config}"
    )


def test_setup_runs_mandate_setup_once_after_temporal_is_healthy() -> None:
    setup = _service("mandate-setup")
    assert _command(setup) == ["mandate", "setup"], (
        f"mandate-setup runs {_command(setup)}, expected `mandate setup`"
    )
    assert str(setup.get("restart", "no")) == "no", 'mandate-setup is a one-shot step: restart must be "no"'
    assert _depends_on(setup).get("temporal") == "service_healthy", (
        "mandate-setup must wait for temporal to be healthy before registering search attributes"
    )


def test_worker_starts_after_setup_completed_successfully() -> None:
    worker = _service("mandate-worker")
    assert _command(worker) in ([], ["mandate", "worker"]), f"mandate-worker runs {_command(worker)}"
    assert _depends_on(worker).get("mandate-setup") == "service_completed_successfully", (
        "mandate-worker must depend on mandate-setup with condition: service_completed_successfully"
    )
    assert worker.get("restart") in ("unless-stopped", "always"), (
        "mandate-worker should restart unless stopped"
    )


def test_worker_mounts_the_charters_read_only() -> None:
    worker = _service("mandate-worker")
    env = _container_env("mandate-worker")
    charters_dir = env.get("MANDATE_CHARTERS", "/app/charters")
    mounts = {target: (source, ro) for source, target, ro in _volume_mounts(worker)}
    assert charters_dir in mounts, (
        f"mandate-worker must mount the charters at {charters_dir} (MANDATE_CHARTERS)"
    )
    source, read_only = mounts[charters_dir]
    assert (COMPOSE_FILE.parent / source).resolve() == (ROOT / "charters").resolve(), (
        f"the charters mount must come from ./charters, not {source!r}"
    )
    assert (ROOT / "charters").is_dir(), "./charters, mounted into the worker, does not exist"
    assert read_only, "the worker must mount the charters read-only (:ro)"


def test_worker_keeps_its_state_on_a_named_volume() -> None:
    worker = _service("mandate-worker")
    home = _container_env("mandate-worker").get("MANDATE_HOME", "/data")
    named_volumes = set((_compose().get("volumes") or {}).keys())
    sources = [src for src, target, _ in _volume_mounts(worker) if target == home]
    assert sources and sources[0] in named_volumes, (
        f"mandate-worker's MANDATE_HOME ({home}) must be on a named volume "
        "declared under top-level `volumes:`"
    )


def _covering_mount(service: Mapping[str, Any], path: str) -> tuple[str, str, bool] | None:
    """The mount that holds ``path`` inside the container: the one with the longest target above it."""
    holding = [m for m in _volume_mounts(service) if path == m[1] or path.startswith(m[1].rstrip("/") + "/")]
    return max(holding, key=lambda m: len(m[1]), default=None)


def test_worker_reads_the_risk_owners_keys_file_read_only_apart_from_its_own_volume() -> None:
    """The keys file says whose signatures count, and the worker reads it again on every change: on the
    worker's writable volume, beside the monitor's private key, the worker's user (or any tool it runs)
    could replace it. It must come read-only from elsewhere, and nothing writable may cover it."""
    worker = _service("mandate-worker")
    env = _container_env("mandate-worker")
    home = env.get("MANDATE_HOME", "/data")
    keys = env.get("MANDATE_KEYS")
    assert keys, "mandate-worker must set MANDATE_KEYS (the default, $MANDATE_HOME/keys.toml, is its own volume)"
    assert not keys.startswith(home.rstrip("/") + "/"), f"MANDATE_KEYS ({keys}) must not be under MANDATE_HOME ({home})"
    mount = _covering_mount(worker, keys)
    assert mount is not None, f"MANDATE_KEYS ({keys}) must be mounted into mandate-worker, volumes: {_volume_mounts(worker)}"
    source, target, read_only = mount
    assert read_only, f"the keys file must be mounted read-only (:ro), got {source}:{target}"
    # Its own mount: not the worker's state volume nor anything else the worker mounts writable.
    writable_sources = {src for src, _, ro in _volume_mounts(worker) if not ro}
    home_mount = _covering_mount(worker, home)
    assert home_mount is not None and home_mount[0] != source and source not in writable_sources, (
        f"the keys file's mount ({source}) must be separate from the worker's writable volumes {writable_sources}"
    )
    assert not target.startswith(home.rstrip("/") + "/") and not home.startswith(target.rstrip("/") + "/"), (
        f"the keys mount ({target}) and MANDATE_HOME ({home}) must not hold one another"
    )
    # The monitor's private key stays on the worker's own, writable volume ($MANDATE_HOME/keys).
    assert not home_mount[2], "MANDATE_HOME must stay writable: the monitor's private key and the shop live there"
    assert _covering_mount(worker, f"{home.rstrip('/')}/keys") == home_mount
    # A host folder of the repository's, which a fresh checkout holds: a keys file trusting nobody (not demo).
    folder = (COMPOSE_FILE.parent / source).resolve()
    assert folder.is_dir(), f"{source}, mounted as the keys folder, must be a folder in the repository"
    shipped = folder / Path(keys).relative_to(target)
    assert shipped.is_file(), f"{shipped} (MANDATE_KEYS on the host) is missing"
    from mandate.keys import load_keys

    trusted = load_keys(shipped)
    assert not trusted.demo and not trusted.keys, "the shipped keys file must trust nobody and not be a demo file"


# --- the image -----------------------------------------------------------------------------------


def test_dockerfile_installs_the_wheel_built_from_the_repository_without_dev_extras() -> None:
    instructions = _dockerfile_instructions()
    base = _last(instructions, "FROM") or ""
    assert base.split()[0].startswith("python:3.11"), (
        f"the image must build FROM python:3.11-slim, not {base!r}"
    )
    assert any(i == "COPY" and a.split()[0] == "." for i, a in instructions), (
        "the build stage must copy the repository (COPY . ...)"
    )
    runs = [args for instruction, args in instructions if instruction == "RUN"]
    assert any(re.search(r"pip wheel\b.*\s\.(\s|$)", r) for r in runs), (
        f"the Dockerfile must build the wheel from the repository (`pip wheel ... .`), its RUN lines are: {runs!r}"
    )
    assert any(re.search(r"pip install\s+\S*mandate-\*\.whl", r) for r in runs), (
        f"the image must install that wheel (non-editable, as tests/test_wheel.py does), its RUN lines are: {runs!r}"
    )
    joined = " && ".join(runs)
    assert "[dev]" not in joined and " -e " not in joined, "the image must not install the dev extra or editable"


def test_dockerfile_runs_mandate_worker_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    entrypoint = _last(instructions, "ENTRYPOINT")
    cmd = _last(instructions, "CMD")
    argv = (_exec_args(entrypoint) if entrypoint else []) + (_exec_args(cmd) if cmd else [])
    assert argv == ["mandate", "worker"], (
        f"the image's ENTRYPOINT + CMD must run `mandate worker`, got {argv}"
    )
    user = _last(instructions, "USER")
    assert user and user.split(":")[0] not in ("root", "0"), (
        f"the image must run as a non-root USER, got {user!r}"
    )
    env_text = " ".join(args for instruction, args in instructions if instruction == "ENV")
    assert re.search(r"MANDATE_HOME[= ]/data\b", env_text), "the image must set MANDATE_HOME=/data"
    assert re.search(r"MANDATE_CHARTERS[= ]/app/charters\b", env_text), (
        "the image must set MANDATE_CHARTERS=/app/charters"
    )


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    assert DOCKERIGNORE.is_file(), f"{DOCKERIGNORE} is missing"
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".venv", ".git", ".mandate"):
        assert needed in patterns, f".dockerignore must exclude {needed}"
