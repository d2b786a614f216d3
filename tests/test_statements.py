"""Signed statements and keys, verified as the run and the write's activity verify them (pure, no server)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mandate.errors import KeysError, StatementRefused
from mandate.keys import KeyEntry, KeySet, load_keys, new_key, publish
from mandate.signer import Signer
from mandate.statements import Act, Statement, parse_statement, sha256_of, sign_statement, verify_statement

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ARGS = {"order_id": 1001, "amount_cents": 4200, "reason": "arrived damaged"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MANDATE_HOME", str(tmp_path))
    monkeypatch.setenv("MANDATE_KEYS", str(tmp_path / "keys.toml"))
    return tmp_path


def _statement(entry: KeyEntry, **over: object) -> Statement:
    fields: dict[str, object] = {
        "act": Act.APPROVE,
        "namespace": "default",
        "agent": "refund-agent",
        "workflow_id": "refund-agent-1",
        "run_id": "run-1",
        "request_id": "r1",
        "tool": "issue_refund",
        "args_hash": sha256_of(ARGS),
        "reason": "photos confirm it",
        "signer": entry.person,
        "key_id": entry.key_id,
        "issued_at": int(NOW.timestamp()),
        "expires_at": int((NOW + timedelta(hours=1)).timestamp()),
        "nonce": "n" * 22,
    }
    return Statement.model_validate({**fields, **over})


EXPECT = {"run_id": "run-1", "request_id": "r1", "tool": "issue_refund", "args_hash": sha256_of(ARGS), "act": Act.APPROVE}


def test_a_key_is_made_private_0600_and_published_to_the_keys_file(home: Path) -> None:
    local, entry = new_key("raj@example.com")
    assert stat.S_IMODE(local.path.stat().st_mode) == 0o600
    assert local.path.parent == home / "keys"
    publish(entry)
    keys = load_keys()
    assert [k.key_id for k in keys.of("RAJ@example.com")] == [entry.key_id]  # ASCII case only
    assert keys.of("\u017fam@example.com") == []
    assert keys.digest.startswith("sha256:") and not keys.demo
    assert Signer.of("raj@example.com").key.key_id == entry.key_id


def test_a_verified_statement_and_each_way_it_is_refused(home: Path) -> None:
    local, entry = new_key("raj@example.com")
    keys = KeySet(keys=[entry])
    signed = sign_statement(_statement(entry), local.private_key)
    assert verify_statement(parse_statement(signed.to_json()), keys, now=NOW, expect=EXPECT).signer == "raj@example.com"

    def refused(statement: object, *, keyset: KeySet = keys, now: datetime = NOW, expect: dict = EXPECT) -> str:
        with pytest.raises(StatementRefused) as err:
            verify_statement(parse_statement(statement), keyset, now=now, expect=expect)
        return str(err.value)

    changed = json.loads(signed.to_json()) | {"reason": "anything else"}
    assert "signature does not match" in refused(changed)
    assert "not in the keys file" in refused(signed.to_json(), keyset=KeySet())
    assert "statement is for run_id 'run-1', not 'run-2'" in refused(signed.to_json(), expect={**EXPECT, "run_id": "run-2"})
    other_args = {**EXPECT, "args_hash": sha256_of({**ARGS, "amount_cents": 99999})}
    assert "statement is for args_hash" in refused(signed.to_json(), expect=other_args)
    assert "has expired" in refused(signed.to_json(), now=NOW + timedelta(hours=2))
    expired_key = KeySet(keys=[entry.model_copy(update={"expires_at": NOW - timedelta(days=1)})])
    assert "expired at" in refused(signed.to_json(), keyset=expired_key)
    revoked = KeySet(keys=[entry.model_copy(update={"revoked": True})])
    assert "is revoked" in refused(signed.to_json(), keyset=revoked)
    assert "names 'reason' twice" in refused(signed.to_json()[:-1] + ',"reason":"x"}')
    forged = sign_statement(_statement(entry, signer="sam@example.com"), local.private_key)
    assert "belongs to raj@example.com, not sam@example.com" in refused(forged.to_json())


def test_a_malformed_keys_file_is_one_line_naming_it(home: Path) -> None:
    (home / "keys.toml").write_text('[[key]]\nperson = "raj@example.com"\nkey_id = "k1"\npublic_key = "rsa:nope"\n')
    with pytest.raises(KeysError) as err:
        load_keys()
    assert str(err.value).startswith(f"{home / 'keys.toml'}: key.0.public_key:"), err.value


def test_no_key_for_a_person_is_a_clear_error(home: Path) -> None:
    with pytest.raises(KeysError) as err:
        Signer.of("raj@example.com")
    assert str(err.value) == (
        "no signing key for raj@example.com on this machine; run `mandate keys new --as raj@example.com`, "
        "then the risk owner adds the entry it prints"
    )
