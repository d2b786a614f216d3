"""What the CLI prints through rich is read as markup: a command in it must not lose its brackets.

Rich takes ``[ai]`` in ``pip install 'mandate[ai]'`` for a style tag and drops it, so the demo's hint once
read ``pip install 'mandate'``. Every text the CLI hands to rich with markup on is checked here, as
written in the source: each ``[...]`` rich would take for a tag must be a style (``[bold]``, ``[/]``);
anything else (a command, an option's brackets) goes through ``esc()`` (``mandate/cli/_render.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from rich.console import Console
from rich.errors import StyleSyntaxError
from rich.markup import RE_TAGS
from rich.style import Style

from mandate.cli._demo_model import AI_INSTALL
from mandate.cli._render import esc

CLI = Path(__file__).resolve().parent.parent / "mandate" / "cli"
#: Calls whose first argument rich reads as markup: ``console.print`` and the demo's narrator.
MARKUP_CALLS = {"print", "_say"}


def _literal_parts(node: ast.expr) -> list[str]:
    """The text written in the source of a str, an f-string or a concatenation of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_parts(node.left) + _literal_parts(node.right)
    return []


def _is_markup_call(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        named = func.attr == "print" and isinstance(func.value, ast.Name) and func.value.id == "console"
    else:
        named = isinstance(func, ast.Name) and func.id in MARKUP_CALLS - {"print"}
    markup_off = any(
        k.arg == "markup" and isinstance(k.value, ast.Constant) and k.value.value is False for k in call.keywords
    )
    return named and bool(call.args) and not markup_off


def _not_a_style(tag: str) -> bool:
    name = tag.lstrip("/").strip()
    if not name:
        return False
    try:
        Style.parse(name)
    except StyleSyntaxError:
        return True
    return False


def test_every_bracket_the_cli_hands_to_rich_is_a_style() -> None:
    swallowed = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and _is_markup_call(node)):
                continue
            for text in _literal_parts(node.args[0]):
                for match in RE_TAGS.finditer(text):
                    if match.group(2) == "" and _not_a_style(match.group(3)):  # "\[" is escaped
                        swallowed.append(f"{path.name}:{node.lineno}: [{match.group(3)}] in {text!r}")
    assert swallowed == [], "rich would drop these as markup; print them with esc():\n" + "\n".join(swallowed)


def test_the_demos_install_hint_prints_exactly() -> None:
    console = Console(record=True, width=200, highlight=False)
    console.print(f"  (skipped: pydantic-ai is not installed; `{esc(AI_INSTALL)}` to see it)")
    assert "`pip install 'mandate[ai]'` to see it" in console.export_text()
