"""The layers hold: the shared core never imports the layers above it, no module outgrows one reading,
and the one import root gives users every name it promises."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import mandate

REPO = Path(__file__).resolve().parent.parent


def _core() -> dict[Path, str]:
    """The shared core, each file with its module name: everything under mandate/ but the CLI (the
    upper layers are symlinked into mandate/ and not followed)."""
    found = {}
    for root, dirs, files in os.walk(REPO / "mandate"):
        dirs[:] = [d for d in dirs if d not in ("cli", "__pycache__")]
        for name in files:
            if name.endswith(".py"):
                path = Path(root) / name
                parts = path.relative_to(REPO).with_suffix("").parts
                found[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return dict(sorted(found.items()))


CORE = _core()
UPPER = ("mandate.workflows", "mandate.activities", "mandate.worker", "mandate.approvals")
MAX_LINES = 300


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _import_module_call(node: ast.AST) -> str | None:
    """The module an ``importlib.import_module("...")`` call names, if it is one with a literal."""
    if not isinstance(node, ast.Call) or ast.unparse(node.func) not in (
        "importlib.import_module",
        "import_module",
    ):
        return None
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _imports(tree: ast.Module, package: str, skip_type_checking: bool) -> list[tuple[int, str]]:
    """Every module an ``import`` statement names, wherever it is (a function body too)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if skip_type_checking and _type_checking_only(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, module))
            # `from mandate import workflows` names the layer as an attribute
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif (named := _import_module_call(node)) is not None:
            found.append((node.lineno, named))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_the_core_never_imports_the_layers_above_it() -> None:
    """mandate/ but the CLI is what everyone shares; only mandate/cli knows every layer.
    The package's ``__init__`` names the upper layers' classes for type checkers only, and resolves
    them when a user asks (``test_importing_the_core_loads_no_upper_layer`` runs it)."""
    assert REPO / "mandate" / "review" / "report.py" in CORE and REPO / "mandate" / "charter.py" in CORE
    offences = []
    for path, name in CORE.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        front_door = name == "mandate"
        for line, module in _imports(tree, package, skip_type_checking=front_door):
            if module in UPPER or module.startswith(tuple(f"{layer}." for layer in UPPER)):
                offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not offences, "the core imports an upper layer:\n" + "\n".join(offences)


def test_importing_the_core_loads_no_upper_layer() -> None:
    core = list(CORE.values())
    probe = (
        "import importlib, sys\n"
        f"for name in {core!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({UPPER!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"importing the core loaded {done.stdout.strip()}"


def _python_files() -> list[Path]:
    """Every .py file of the project outside tests/ and benchmarks/ (not through the mandate/ symlinks)."""
    skip = {".git", ".venv", "tests", "benchmarks", "build", "dist", "node_modules"}
    found = []
    for root, dirs, files in os.walk(REPO):  # symlinked folders are not followed
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".") and not d.endswith(".egg-info")]
        found += [Path(root) / f for f in files if f.endswith(".py")]
    return sorted(found)


def test_no_module_is_over_300_lines() -> None:
    files = _python_files()
    assert REPO / "workflows" / "governed.py" in files and REPO / "mandate" / "charter.py" in files
    long = []
    for path in files:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert not long, f"over {MAX_LINES} lines:\n" + "\n".join(long)


def test_star_import_gives_every_public_name() -> None:
    names: dict[str, object] = {}
    exec("from mandate import *", names)
    missing = [name for name in mandate.__all__ if names.get(name) is None]
    assert not missing, missing
    from mandate.charter import load_charter
    from mandate.workflows.governed import GovernedAgent

    assert names["GovernedAgent"] is GovernedAgent and names["load_charter"] is load_charter
    assert set(mandate.__all__) <= set(dir(mandate))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        mandate.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("mandate.NoSuchThing resolved")
