"""`mandate init NAME [--dir PATH]`: a new agent project, in a package of its own, outside Mandate.

The project is Mandate's way of writing an agent, ready to run: tools (a read, and a write with its
compensation), a rule-based planner, the workflow, a charter that passes ``mandate audit``, the
``mandate.agents`` entry point, a README and a test that runs the agent on a real dev server. The
templates are the ``_scaffold/*.tmpl`` files beside this module.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from mandate.cli._render import console, esc
from mandate.cli.app import app, fail

__all__ = ["Project", "plan_project", "render_project", "write_project", "TEMPLATES"]

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
#: The example's tools: a read, a write, the write's compensation.
EXAMPLE_TOOLS = ("get_service_version", "deploy", "rollback_deploy")
#: Template file -> where it goes in the project.
TEMPLATES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "__init__.py.tmpl": "{pkg}/__init__.py",
    "app.py.tmpl": "{pkg}/app.py",
    "tools.py.tmpl": "{pkg}/tools.py",
    "planner.py.tmpl": "{pkg}/planner.py",
    "workflow.py.tmpl": "{pkg}/workflow.py",
    "charter.toml.tmpl": "{pkg}/charters/{agent}.toml",
    "test_agent.py.tmpl": "tests/test_{pkg}.py",
}
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class ScaffoldError(ValueError):
    """A name or a target directory ``mandate init`` refuses, with the reason on one line."""


@dataclass(frozen=True)
class Project:
    agent: str  # deploy-agent: the charter's name, the entry point's
    pkg: str  # deploy_agent: the Python package
    cls: str  # DeployAgent: the workflow class and its workflow type
    read_tool: str
    write_tool: str
    undo_tool: str

    @property
    def values(self) -> dict[str, str]:
        from mandate import __version__

        return {
            "agent": self.agent,
            "pkg": self.pkg,
            "Class": self.cls,
            "read_tool": self.read_tool,
            "write_tool": self.write_tool,
            "undo_tool": self.undo_tool,
            "mandate_version": __version__,
        }


def plan_project(name: str, *, taken_tools: set[str], taken_agents: set[str]) -> Project:
    """The names a project for agent ``name`` uses; refuses a name that is not valid or is taken."""
    if not NAME.match(name) or len(name) > 63:
        raise ScaffoldError(
            f"{name!r} is not a valid agent name: lowercase letters and digits in words joined by single "
            "hyphens, starting with a letter, at most 63 characters (e.g. deploy-agent)"
        )
    pkg = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-"))
    if keyword.iskeyword(pkg):
        raise ScaffoldError(f"{name!r} would make a package named {pkg}, a Python keyword; choose another name")
    if name in taken_agents or cls in taken_agents:
        raise ScaffoldError(f"an installed package already defines agent {name!r} or workflow {cls}; choose another name")
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        where = f" ({spec.origin})" if spec.origin else ""
        raise ScaffoldError(f"a module named {pkg} is already importable here{where}; choose another name")
    tools: tuple[str, ...] = EXAMPLE_TOOLS
    if taken_tools & set(tools):
        # Tool names are global among the agents a worker serves: stay clear of an installed agent's.
        tools = tuple(f"{pkg}_{t}" for t in EXAMPLE_TOOLS)
        if taken_tools & set(tools):
            raise ScaffoldError(f"the tools {', '.join(tools)} are already declared by an installed agent")
    read, write, undo = tools
    return Project(name, pkg, cls, read, write, undo)


def render_project(project: Project) -> dict[str, str]:
    """Every file of the project, by its path in the project, with the names filled in."""
    folder = resources.files("mandate.cli") / "_scaffold"
    values = project.values
    files: dict[str, str] = {}
    for template, target in TEMPLATES.items():
        text = (folder / template).read_text(encoding="utf-8")
        files[target.format(pkg=project.pkg, agent=project.agent)] = _PLACEHOLDER.sub(
            lambda m: values[m.group(1)], text
        )
    return files


def write_project(target: Path, files: dict[str, str]) -> None:
    """Write the files under ``target``, which must not exist or be an empty directory."""
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} exists and is not a directory; choose another --dir")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(f"{target} exists and is not empty; choose another --dir or remove it")
    try:
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ScaffoldError(f"cannot write the project in {target}: {err.strerror or err}") from None


def _taken() -> tuple[set[str], set[str]]:
    """Tool names, agent names and workflow types the installed agent packages already use."""
    from mandate.app import load_apps, workflows_by_type
    from mandate.errors import MandateError
    from mandate.tools import registry

    try:
        workflows = workflows_by_type(load_apps())
    except MandateError:  # a broken package elsewhere must not stop a new one being made
        return set(registry.names()), set()
    agents = {getattr(cls, "agent", "") for cls in workflows.values()}
    return set(registry.names()), {*agents, *workflows}


@app.command()
def init(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the agent's name, e.g. deploy-agent")],
    directory: Annotated[
        Path | None, typer.Option("--dir", metavar="PATH", help="where the project goes [default: ./NAME]")
    ] = None,
) -> None:
    """Scaffold an agent project in its own package: tools, planner, workflow, charter, README, a test."""
    target = directory if directory is not None else Path(name)
    try:
        if not NAME.match(name):  # say so before loading anything
            plan_project(name, taken_tools=set(), taken_agents=set())
        tools, agents = _taken()
        project = plan_project(name, taken_tools=tools, taken_agents=agents)
        write_project(target, render_project(project))
    except ScaffoldError as err:
        fail(str(err))
    p = project
    console.print(f"created {esc(p.agent)} in {esc(target)}/: package {esc(p.pkg)}, workflow {esc(p.cls)}")
    console.print(
        f"  tools: {esc(p.read_tool)} (read), {esc(p.write_tool)} (write, needs approval, undone by "
        f"{esc(p.undo_tool)})"
    )
    if p.read_tool != EXAMPLE_TOOLS[0]:
        console.print(f"  (named after the package: an installed agent already declares {', '.join(EXAMPLE_TOOLS)})")
    console.print(f"\nnext, in {esc(target)}:")
    for line in (
        "pip install -e '.[dev]'     # or add --app " + p.pkg + ".app to the commands below",
        "mandate audit",
        "python -m pytest",
        "mandate dev",
    ):
        console.print(f"  {esc(line)}")
