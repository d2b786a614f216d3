"""docs/models.md, run as written: a scripted model, then a real one, for the agent `mandate init` makes.

Every fenced block of the page is taken from the page itself, in order, so the page and this test cannot
drift: a ``python`` block headed ``# <path>`` is that file, whole; one headed ``# <path>: the line that …``
replaces the line of that file that starts the same way; a ``toml`` block headed ``…: added at the end`` is
appended to the charter, one headed ``…: in place of the scripted one`` replaces its ``[model]`` table; a
``sh`` block is run command by command by ``tests.walkthrough.Reader`` (its docstring says what a test's
machine does differently from a reader's: ``pip install`` skipped for the installed venv and
``MANDATE_APP``, ``mandate dev`` on free ports, reached by the address it prints).

The real model is ``openai:gpt-4o`` through pydantic-ai's OpenAI client, for real, with the key the page
exports; what answers it is a stand-in for OpenAI's Responses API on localhost, reached as any
OpenAI-compatible server is, by ``OPENAI_BASE_URL`` (this machine has no network and no key). It answers
as the scripted model does, and keeps every request, so the test can check what the model was sent.
About a minute and a half: two `mandate dev`s and the scaffold's own test twice.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.walkthrough import FENCE, Reader

DOC = Path(__file__).resolve().parent.parent / "docs" / "models.md"
CHARTER = "deploy_agent/charters/deploy-agent.toml"


class _Responses(BaseHTTPRequestHandler):
    """``POST …/responses``: what gpt-4o would plausibly answer the deploy agent, decided from the input."""

    server: _StandIn

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        reply = json.dumps(self.server.answer(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _StandIn(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Responses)
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        items = body.get("input", [])
        names = {i["call_id"]: i["name"] for i in items if i.get("type") == "function_call"}
        outputs = {names.get(i["call_id"]): i["output"] for i in items if i.get("type") == "function_call_output"}
        prompt = next(i for i in items if i.get("role") == "user")["content"]
        text = prompt if isinstance(prompt, str) else " ".join(p.get("text", "") for p in prompt)
        asked = json.loads(text)
        n = len(self.seen)
        if "get_service_version" not in outputs:
            output = [_call(n, "get_service_version", {"service": asked["service"]})]
        elif "deploy" not in outputs:
            output = [_call(n, "deploy", {"service": asked["service"], "version": asked["version"]})]
        else:
            said = f"Deployed {asked['service']} {asked['version']}: {outputs['deploy']}"
            output = [{"type": "message", "id": f"msg_{n}", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": said, "annotations": []}]}]  # fmt: skip
        return {
            "id": f"resp_{n}", "object": "response", "created_at": int(time.time()), "model": body["model"],
            "status": "completed", "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": [],
            "usage": {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        }  # fmt: skip


def _call(n: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": name,
            "arguments": json.dumps(args), "status": "completed"}  # fmt: skip


@pytest.fixture
def openai_stand_in() -> Iterator[_StandIn]:
    server = _StandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _header(text: str) -> tuple[str, str]:
    """A block's first line, ``# path`` or ``# path: how``, as (path, how)."""
    first = text.splitlines()[0]
    assert first.startswith("# "), f"a file block names its file on its first line: {first!r}"
    path, _, how = first[2:].partition(": ")
    return path.strip(), how.strip()


def _model_table(charter: str) -> tuple[int, int]:
    """Where the charter's ``[model]`` table starts and ends (the next table, or the end)."""
    start = charter.index("\n[model]\n") + 1
    after = re.search(r"^\[", charter[start + 1 :], re.M)
    return start, (start + 1 + after.start()) if after else len(charter)


def test_the_models_page_runs_as_written(tmp_path: Path, openai_stand_in: _StandIn) -> None:
    reader = Reader(tmp_path)
    reader.env["OPENAI_BASE_URL"] = openai_stand_in.url
    runs: list[str] = []
    start_block = ""
    try:
        for lang, text in ((m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text())):
            if lang == "python":
                path, how = _header(text)
                target = reader.cwd / path
                if not how:  # the whole file
                    target.write_text(text.split("\n", 1)[1])
                    continue
                line = text.splitlines()[1]
                lines = target.read_text().splitlines(keepends=True)
                prefix = line.split("==")[0]
                hits = [n for n, old in enumerate(lines) if old.rstrip("\n").startswith(prefix)]
                assert len(hits) == 1, f"{path}: no one line starts with {prefix!r}"
                lines[hits[0]] = line + "\n"
                target.write_text("".join(lines))
            elif lang == "toml":
                path, how = _header(text)
                target = reader.cwd / path
                charter = target.read_text()
                table = text.split("\n", 1)[1]
                if how == "added at the end":
                    target.write_text(charter.rstrip("\n") + "\n\n" + table)
                else:
                    assert how == "the [model] table, in place of the scripted one", how
                    start, end = _model_table(charter)
                    target.write_text(charter[:start] + table + "\n" + charter[end:])
            elif lang == "sh":
                if "$(mandate start" in text:
                    start_block = text
                ran = reader.block(text)
                if start_block == text:
                    runs.append(reader.env["id"])
                _check(reader, ran, openai_stand_in)
        # "Then the same four commands as above": on the real model this time.
        assert start_block and reader.dev is not None, "the page starts a run and ends with `mandate dev` serving"
        reader.block(start_block)
        runs.append(reader.env["id"])
        scripted, real = (reader.status(run) for run in runs)
    finally:
        reader.stop_dev()

    for status in (scripted, real):
        assert (status["state"], status["outcome"]) == ("completed", "answered"), status
        assert [s["tool"] for s in status["steps"]] == ["get_service_version", "deploy"], status  # type: ignore[index]
        decision = status["decisions"][0]  # type: ignore[index]
        assert (decision["approver"], decision["reason"]) == ("release-manager@example.com", "release notes read")
    assert str(scripted["summary"]).startswith("checkout: nothing -> 1.4.2 (deploy 1) (scripted:deploy: 3 model call(s)")
    assert str(real["summary"]).startswith("Deployed checkout 1.4.2: ") and "openai:gpt-4o: 3 model call(s)" in str(real["summary"])
    assert float(real["cost"]) > 0  # type: ignore[arg-type]  # priced at the charter's gpt-4o prices

    # The real model was asked through OpenAI's client, with the key the page exports, for the charter's model.
    asked = openai_stand_in.seen
    assert len(asked) == 3 and all(a["path"] == "/v1/responses" for a in asked), asked
    assert {a["auth"] for a in asked} == {"Bearer sk-..."}
    assert {a["body"]["model"] for a in asked} == {"gpt-4o"}
    offered = sorted(t["name"] for t in asked[0]["body"]["tools"])
    assert offered == ["deploy", "get_service_version"], offered
    assert "You deploy versions of services" in asked[0]["body"]["instructions"]


def _check(reader: Reader, ran: list[Any], stand_in: _StandIn) -> None:
    """What the page says each block shows, where a command prints it."""
    for r in ran:
        if r.command.startswith("mandate audit"):
            words = " ".join(r.stdout.split())
            assert "deploy-agent" in words and "model" in words, r
            model = "openai:gpt-4o" if "OPENAI_API_KEY" in reader.env else "scripted:deploy"
            assert f"ok model {model}: at most 6 model calls and 20000 tokens a run" in words, r
        if "python -m pytest" in r.command:
            assert "2 passed" in r.stdout, r
            if "MANDATE_MODEL_DEPLOY_AGENT" in r.command:  # with the key exported, and the provider answering
                assert stand_in.seen == [], "the override keeps the tests off the provider"
