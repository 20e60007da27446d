"""API keys: only a hash is stored, the comparison is exact, scopes and revocation hold, both stores
agree, and the CLI makes, lists and revokes keys without ever printing a stored one."""

import json
import stat
import uuid

import pytest

from serve_app.keys import ensure_admin_key, new_key, split_key
from serve_app.keys.__main__ import main
from serve_app.keys.store import REDIS_KEY, FileKeyStore, RedisKeyStore

TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def test_a_key_is_stored_as_a_hash_and_matches_only_itself():
    key, record = new_key("acme", "low", frozenset({"graphs"}))
    assert key.startswith(f"sfk_{record.id}_") and split_key(key) == record.id
    assert key not in record.model_dump_json() and len(record.digest) == 64
    assert record.matches(key)
    assert not record.matches(key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert not record.matches("")


@pytest.mark.parametrize("presented", ["", "sfk_", "Bearer x", "sfk_0123456_" + "a" * 43, "sfk_01234567_short",
                                       "sfk_01234567_" + "a" * 43 + "\n", "sfk_0123456g_" + "a" * 43])
def test_malformed_keys_are_not_looked_up(presented):
    assert split_key(presented) is None


def test_scopes_and_admin():
    _, graphs_only = new_key("t", scopes=frozenset({"graphs"}))
    _, admin = new_key("t", scopes=frozenset({"admin"}))
    assert graphs_only.allows("graphs") and not graphs_only.allows("llm")
    assert all(admin.allows(scope) for scope in ("graphs", "llm", "v2", "jobs", "admin"))


@pytest.fixture(params=["file", "redis"])
def store(request, tmp_path):
    if request.param == "file":
        yield FileKeyStore(tmp_path / "keys.json")
    else:
        store = RedisKeyStore(TEST_REDIS_URL)
        store.redis.delete(REDIS_KEY)
        yield store
        store.redis.delete(REDIS_KEY)


def test_stores_put_list_and_revoke(store):
    key, record = new_key("acme")
    store.put(record)
    assert store.all()[record.id].matches(key)
    assert store.revoke(record.id) and not store.revoke(record.id) and not store.revoke("ffffffff")
    assert not store.all()[record.id].matches(key)


def test_the_key_file_is_private_and_holds_no_key(tmp_path):
    store = FileKeyStore(tmp_path / "keys.json")
    key = ensure_admin_key(store, tmp_path / "api-key")
    assert stat.S_IMODE((tmp_path / "api-key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert key not in (tmp_path / "keys.json").read_text()
    # A second set-up keeps the key; a revoked one is replaced.
    assert ensure_admin_key(store, tmp_path / "api-key") == key
    store.revoke(split_key(key))
    assert ensure_admin_key(store, tmp_path / "api-key") != key


def test_a_provisioned_admin_key_is_registered_as_it_is(tmp_path):
    """k8s/local's Secret (a read-only file) on a store that has never seen it: its record is made, the file kept."""
    provisioned, _ = new_key("anyone")
    (tmp_path / "api-key").write_text(provisioned + "\n")
    (tmp_path / "api-key").chmod(0o400)
    store = FileKeyStore(tmp_path / "keys.json")
    assert ensure_admin_key(store, tmp_path / "api-key") == provisioned
    record = store.all()[split_key(provisioned)]
    assert record.matches(provisioned) and record.allows("admin") and record.tier == "high"
    # Malformed: replaced by a new key, as a missing one is.
    (tmp_path / "other-key").write_text("not-a-key")
    assert split_key(ensure_admin_key(store, tmp_path / "other-key")) is not None


def test_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PLATFORM_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("PLATFORM_KEY_STORE", "file")
    assert main(["create", "--tenant", "acme", "--tier", "low", "--scopes", "graphs,v2"]) == 0
    key = capsys.readouterr().out.strip()
    record = json.loads((tmp_path / "keys.json").read_text())[split_key(key)]
    assert (record["tenant"], record["tier"], sorted(record["scopes"])) == ("acme", "low", ["graphs", "v2"])
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert split_key(key) in listed and key not in listed
    assert main(["revoke", split_key(key)]) == 0 and main(["revoke", split_key(key)]) == 1
    with pytest.raises(SystemExit):
        main(["create", "--tenant", "acme", "--scopes", "graphs,root"])
    with pytest.raises(SystemExit):
        main(["create", "--tenant", f"bad tenant {uuid.uuid4()}"])
