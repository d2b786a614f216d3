"""Charter loading and validation, against the real tool registry (no Temporal server)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import mandate.activities.shop  # noqa: F401  (registers the shop's tools)
from mandate.authority import Policy
from mandate.charter import (
    Charter,
    KillCriteria,
    ModelSection,
    Owners,
    ToolPolicy,
    load_charter,
    load_charters,
)
from mandate.errors import CharterError
from mandate.tools import registry

SHIPPED = Path(__file__).resolve().parent.parent / "charters"
REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "charters.md"

OWNERS = """
[owners]
workflow = "ana@example.com"
risk = "raj@example.com"
quality = "qi@example.com"
stop_go = "sam@example.com"
"""

HEAD = 'name = "test-agent"\nworkflow = "TestAgent"\n'


def write(tmp_path: Path, body: str, name: str = "test-agent") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def refused(path: Path, *, tools=registry) -> CharterError:
    with pytest.raises(CharterError) as info:
        load_charter(path, tools)
    err = info.value
    text = str(err)
    assert "\n" not in text, f"message is not one line: {text!r}"
    assert text == f"{path}: {err.field}: {err.reason}"
    assert err.path == str(path)
    return err


# --- the shipped charter ------------------------------------------------------------------


def test_shipped_refund_agent_charter_loads_against_the_real_registry() -> None:
    charters = load_charters(SHIPPED, registry)
    assert "refund-agent" in charters
    charter = charters["refund-agent"]
    assert charter.workflow == "RefundAgent"
    assert charter.owners.stop_go == "sam@example.com"
    assert charter.owners.risk == "raj@example.com"
    refund = charter.policy_for("issue_refund")
    assert refund.policy is Policy.APPROVE
    assert refund.approvers == ["raj@example.com", "sam@example.com"]
    assert refund.approval_timeout == timedelta(hours=4)
    assert refund.escalate_to == ["cfo@example.com"]
    assert charter.policy_for("notify_customer").policy is Policy.APPROVE
    assert charter.policy_for("delete_customer").policy is Policy.BLOCK
    assert charter.policy_for("lookup_order").policy is Policy.ALLOW
    assert charter.kill_criteria is not None
    assert charter.kill_criteria.action == "rollback"
    assert charter.kill_criteria.window == timedelta(hours=1)
    assert charter.kill_criteria.check_every == timedelta(seconds=30)
    assert charter.kill_criteria.max_exception_rate == pytest.approx(0.10)
    # every tool the charter names is a registered tool
    assert all(name in registry for name in charter.tools)


def test_default_deny_for_a_tool_the_charter_does_not_name() -> None:
    charter = load_charter(SHIPPED / "refund-agent.toml", registry)
    assert "unknown_tool" not in charter.tools
    assert charter.policy_for("unknown_tool").policy is Policy.BLOCK


def test_minimal_valid_charter(tmp_path: Path) -> None:
    charter = load_charter(write(tmp_path, HEAD + OWNERS), registry)
    assert isinstance(charter, Charter)
    assert charter.tools == {}
    assert charter.kill_criteria is None
    assert charter.policy_for("lookup_order").policy is Policy.BLOCK


# --- validation errors --------------------------------------------------------------------


def test_missing_stop_go_owner(tmp_path: Path) -> None:
    body = HEAD + OWNERS.replace('stop_go = "sam@example.com"\n', "")
    err = refused(write(tmp_path, body))
    assert err.field == "owners.stop_go"
    assert "Field required" in err.reason


def test_missing_owners_table(tmp_path: Path) -> None:
    err = refused(write(tmp_path, HEAD))
    assert err.field == "owners"
    assert "Field required" in err.reason


@pytest.mark.parametrize("blank", ['""', '"   "'])
def test_empty_owner_name(tmp_path: Path, blank: str) -> None:
    body = HEAD + OWNERS.replace('risk = "raj@example.com"', f"risk = {blank}")
    err = refused(write(tmp_path, body))
    assert err.field == "owners.risk"
    assert "at least 1 character" in err.reason


def test_unknown_policy_value(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.lookup_order]\npolicy = "maybe"\n'
    err = refused(write(tmp_path, body))
    assert err.field == "tools.lookup_order.policy"
    assert "'allow', 'approve' or 'block'" in err.reason


def test_approve_without_approvers(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.issue_refund]\npolicy = "approve"\n'
    err = refused(write(tmp_path, body))
    assert err.field == "tools.issue_refund"
    assert "needs at least one name in approvers" in err.reason
    assert not err.reason.startswith("Value error")


@pytest.mark.parametrize("bad", ["4 hours", "soon"])
def test_bad_approval_timeout(tmp_path: Path, bad: str) -> None:
    body = (
        HEAD
        + OWNERS
        + f'\n[tools.issue_refund]\npolicy = "approve"\napprovers = ["raj@example.com"]\napproval_timeout = "{bad}"\n'
    )
    err = refused(write(tmp_path, body))
    assert err.field == "tools.issue_refund.approval_timeout"
    assert f"{bad!r} is not a duration" in err.reason
    assert "30s, 15m, 4h" in err.reason


def test_good_approval_timeout_is_parsed(tmp_path: Path) -> None:
    body = (
        HEAD
        + OWNERS
        + '\n[tools.issue_refund]\npolicy = "approve"\napprovers = ["raj@example.com"]\napproval_timeout = "1h30m"\n'
    )
    charter = load_charter(write(tmp_path, body), registry)
    assert charter.policy_for("issue_refund").approval_timeout == timedelta(hours=1, minutes=30)


def test_unknown_top_level_field(tmp_path: Path) -> None:
    body = HEAD + 'descripton = "typo of description"\n' + OWNERS
    err = refused(write(tmp_path, body))
    assert err.field == "descripton"
    assert "unknown field" in err.reason


def test_unknown_field_in_a_tool_policy(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.lookup_order]\npolicy = "allow"\napprover = ["raj@example.com"]\n'
    err = refused(write(tmp_path, body))
    assert err.field == "tools.lookup_order.approver"
    assert "unknown field" in err.reason


def test_write_tool_allowed_without_reason_is_refused(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.issue_refund]\npolicy = "allow"\n'
    err = refused(write(tmp_path, body))
    assert err.field == "tools.issue_refund.policy"
    assert "write tool 'issue_refund' is 'allow' without a reason" in err.reason
    assert 'add reason = "..." or use policy = "approve"' in err.reason


def test_write_tool_allowed_with_blank_reason_is_refused(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.issue_refund]\npolicy = "allow"\nreason = "   "\n'
    err = refused(write(tmp_path, body))
    assert err.field == "tools.issue_refund.policy"


def test_write_tool_allowed_with_reason_is_accepted(tmp_path: Path) -> None:
    body = (
        HEAD
        + OWNERS
        + '\n[tools.issue_refund]\npolicy = "allow"\nreason = "refunds under 5 EUR, audited weekly"\n'
    )
    charter = load_charter(write(tmp_path, body), registry)
    rule = charter.policy_for("issue_refund")
    assert rule.policy is Policy.ALLOW
    assert rule.reason == "refunds under 5 EUR, audited weekly"


def test_read_tool_allowed_needs_no_reason(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.lookup_order]\npolicy = "allow"\n'
    charter = load_charter(write(tmp_path, body), registry)
    assert charter.policy_for("lookup_order").policy is Policy.ALLOW


def test_tool_not_in_registry(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[tools.frobnicate]\npolicy = "block"\n'
    path = write(tmp_path, body)
    err = refused(path)
    assert err.field == "tools.frobnicate"
    assert "no tool named 'frobnicate' is registered" in err.reason
    # without a registry, the same file is only checked for shape
    assert "frobnicate" in load_charter(path).tools


def test_invalid_toml_syntax(tmp_path: Path) -> None:
    err = refused(write(tmp_path, HEAD + "[owners\nworkflow = 'x'\n"))
    assert err.field == "(toml)"
    assert "line 3" in err.reason


def test_name_must_match_file_name(tmp_path: Path) -> None:
    err = refused(write(tmp_path, HEAD + OWNERS, name="other-agent"))
    assert err.field == "name"
    assert "'test-agent' does not match the file name 'other-agent'" in err.reason


def test_invalid_kill_action(tmp_path: Path) -> None:
    body = HEAD + OWNERS + '\n[kill_criteria]\naction = "explode"\n'
    err = refused(write(tmp_path, body))
    assert err.field == "kill_criteria.action"
    assert "'pause', 'cancel' or 'rollback'" in err.reason


@pytest.mark.parametrize("field", ["max_exception_rate", "max_rework_rate", "max_escalation_rate"])
def test_rates_above_one(tmp_path: Path, field: str) -> None:
    body = HEAD + OWNERS + f"\n[kill_criteria]\n{field} = 1.5\n"
    err = refused(write(tmp_path, body))
    assert err.field == f"kill_criteria.{field}"
    assert "less than or equal to 1" in err.reason


def test_rate_of_exactly_one_is_accepted(tmp_path: Path) -> None:
    body = HEAD + OWNERS + "\n[kill_criteria]\nmax_exception_rate = 1\n"
    charter = load_charter(write(tmp_path, body), registry)
    assert charter.kill_criteria is not None
    assert charter.kill_criteria.max_exception_rate == 1


def test_missing_file(tmp_path: Path) -> None:
    err = refused(tmp_path / "test-agent.toml")
    assert err.field == "(file)"
    assert "no such file" in err.reason


def test_load_charters_on_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CharterError) as info:
        load_charters(missing, registry)
    err = info.value
    assert err.path == str(missing)
    assert err.field == "(directory)"
    assert "no such charters directory" in err.reason
    assert str(err) == f"{missing}: (directory): no such charters directory"


def test_load_charters_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    write(tmp_path, HEAD + OWNERS)
    bad = write(tmp_path, 'name = "zz-agent"\nworkflow = "Z"\n', name="zz-agent")
    with pytest.raises(CharterError) as info:
        load_charters(tmp_path, registry)
    assert info.value.path == str(bad)
    assert info.value.field == "owners"


# --- the reference ------------------------------------------------------------------------


def test_the_reference_documents_every_field() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    fields = [
        *(f"`{name}`" for name in Charter.model_fields),
        *(f"`owners.{name}`" for name in Owners.model_fields),
        *(f"`tools.<name>.{name}`" for name in ToolPolicy.model_fields),
        *(f"`kill_criteria.{name}`" for name in KillCriteria.model_fields),
        *(f"`model.{name}`" for name in ModelSection.model_fields),
    ]
    undocumented = [f for f in fields if f"| {f} |" not in text]
    assert not undocumented, f"docs/charters.md has no row for {undocumented}"


def test_the_reference_example_is_a_valid_charter(tmp_path: Path) -> None:
    example = REFERENCE.read_text(encoding="utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    charter = load_charter(write(tmp_path, example, name="refund-agent"), registry)
    assert charter.kill_criteria is not None and charter.kill_criteria.action == "rollback"
