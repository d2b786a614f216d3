"""The README, walked through as a new user would: the quick start, then the "Writing an agent" path.

The commands are the README's own, parsed from the fenced ``sh`` blocks of its "Quick start" and "Writing
an agent" sections at every run, so the two cannot drift; each is a real subprocess in a fresh temporary
folder (``tests.walkthrough.Reader``), with real servers: ``mandate demo`` tells its whole story, act two
(the model-backed agent) included, and ``mandate dev`` serves the agent ``mandate init`` made while the
next block starts, approves and reads a run of it.

What differs from a reader's machine, and nothing else: creating the virtual environment and ``pip
install`` are skipped, since this venv has Mandate installed, ``[ai]`` and ``[dev]`` extras included
(editable, from this checkout), so ``.venv/bin/mandate`` is this venv's; the agent project's ``pip install
-e '.[dev]'`` is replaced by what the README gives as its equivalent before installing, ``MANDATE_APP``
naming the project's app; ``mandate demo`` and ``mandate dev`` run on free ports, not 7233/8233, which
other servers may hold on a shared machine, and the commands after ``mandate dev`` reach it by the
``export TEMPORAL_ADDRESS=…`` line it prints; ``mandate approve`` waits until ``mandate pending`` lists the
request, as a person reading it would. The quick start's second block (the whole test suite) is not run
from inside the suite. About a minute.
"""

from __future__ import annotations

from pathlib import Path

from tests.walkthrough import Reader, blocks, commands

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_quick_start_tells_the_whole_demo(tmp_path: Path) -> None:
    demo, _tests = (text for _, text in blocks(README.read_text(), "Quick start", "sh"))
    assert any("mandate demo" in line for line in commands(demo)), demo
    reader = Reader(tmp_path)
    ran = reader.block(demo)
    told = ran[-1]
    assert "mandate demo" in told.command and told.returncode == 0, told
    out = " ".join(told.stdout.split())
    # Act one: a refund approved, another rejected; act two, the model-backed agent, not skipped.
    assert "risk owner) approves it with `mandate approve`" in out, told
    assert "rejects this refund with `mandate reject`" in out, told
    assert "Act two: support-agent" in out and "skipped" not in out, told
    assert "scripted:support" in out and "BLOCKED" in out, told  # no key here: the scripted model, and its charter
    assert "Traceback" not in told.stdout + told.stderr, told
    # What was skipped is the venv and the install, and the install is the one that brings act two: [ai].
    assert [c.split()[-1] for c in reader.skipped] == [".venv", "'.[ai]'"], reader.skipped


def test_your_own_agent_from_init_to_an_approved_deploy(tmp_path: Path) -> None:
    scaffold, decide = (text for _, text in blocks(README.read_text(), "Writing an agent", "sh"))
    reader = Reader(tmp_path)
    try:
        ran = reader.block(scaffold)
        said = {r.command.split("#")[0].strip(): r for r in ran}
        assert "deploy-agent" in said["mandate audit"].stdout and "ready" in said["mandate audit"].stdout, said
        assert "passed" in said["python -m pytest"].stdout, said["python -m pytest"]
        assert reader.dev is not None and reader.dev.poll() is None, "`mandate dev` serves on"
        assert "serving: deploy-agent" in ran[-1].stdout, ran[-1]

        ran = reader.block(decide)
        workflow_id = reader.env["id"]
        assert workflow_id.startswith("deploy-agent-"), ran[0]
        listed = " ".join(ran[1].stdout.split())
        assert workflow_id in listed and "deploy" in listed, ran[1]
        assert f"approved r1 of {workflow_id} as release-manager@example.com" in ran[2].stdout, ran[2]
        status = reader.status(workflow_id)
    finally:
        reader.stop_dev()
    assert (status["state"], status["outcome"]) == ("completed", "deployed"), status
    assert status["summary"] == "checkout: nothing -> 1.4.2 (deploy 1)", status
