"""The guard's decisions that do not need a running platform: paths it refuses before any family or scope
is decided, credentials sent twice, and a job's replay held to its submitting key's scopes and tokens
(keys in a file, rate limits in the real local Redis, test database 15)."""

import asyncio
import uuid

import pytest
from starlette.datastructures import Headers

from serve_app.common.errors import Forbidden, InvalidPath, RateLimited, Unauthenticated
from serve_app.common.settings import PlatformSettings
from serve_app.keys import new_key
from serve_app.keys.store import FileKeyStore
from serve_app.security.caller import Caller
from serve_app.security.config import SecurityConfig
from serve_app.security.families import check_path
from serve_app.security.gate import Guard
from serve_app.security.rate_limits import RateLimitConfig, TierLimits


@pytest.mark.parametrize("path, raw", [
    ("/x/../v1/chat/completions", None), ("/v1/jobs/../jobs/dead-letters", None), ("/./v1/models", None),
    ("//v1/chat/completions", None), ("/v1//jobs/dead-letters", None), ("/v1/graphs/..", None),
    ("/v1/chat/completions", b"/x/%2e%2e/v1/chat/completions"), ("/v1/chat/completions", b"/x/%2E%2E/v1/chat/completions"),
    ("/v1/jobs/dead-letters", b"/v1/jobs%2fdead-letters"), ("/v1/models", b"/v1%5cmodels"),
    ("/v1\\models", None), ("/v1/models\x00", b"/v1/models%00"),
])
def test_paths_routing_and_a_normalizing_client_read_differently_are_refused(path, raw):
    with pytest.raises(InvalidPath):
        check_path(path, raw)


@pytest.mark.parametrize("path", ["/", "/v1/models", "/v1/models/", "/v1/graphs/recommend", "/v1/jobs/a.b:c-1",
                                  "/V1/Chat/Completions", "/v2/models/classify/infer"])
def test_normalized_paths_pass(path):
    check_path(path, path.encode() + b"?wait=1&x=%2f")  # a query string is not the path


@pytest.fixture
def guard(tmp_path):
    key, record = new_key("tenant-a", "normal", frozenset({"graphs", "jobs"}))
    FileKeyStore(tmp_path / "keys.json").put(record)
    guard = Guard(PlatformSettings(keys_file=tmp_path / "keys.json", redis_url="redis://127.0.0.1:6379/15"))
    tier = TierLimits(requests_per_second=1000, requests_per_minute=100_000, tokens_per_minute=10)
    guard.configure(SecurityConfig(rate_limits=RateLimitConfig(tiers={"high": tier, "normal": tier, "low": tier})))
    guard.key = key
    return guard


def test_one_key_admits_two_are_refused(guard):
    async def admit(*headers):
        raw = [(name.encode(), value.encode()) for name, value in headers]
        return await guard.admit(Headers(raw=raw), "POST", "/v1/graphs/recommend", "graphs")

    async def run():  # one event loop: the limiter's Redis client belongs to it
        assert (await admit(("authorization", f"Bearer {guard.key}"))).tenant == "tenant-a"
        assert (await admit(("x-api-key", guard.key))).tenant == "tenant-a"
        for twice in ([("authorization", f"Bearer {guard.key}")] * 2, [("x-api-key", guard.key)] * 2,
                      [("authorization", f"Bearer {guard.key}"), ("x-api-key", "sfk_other")]):
            with pytest.raises(Unauthenticated, match="once"):
                await admit(*twice)

    asyncio.run(run())


def test_a_replay_runs_with_its_keys_scopes_and_tokens(guard):
    graphs_only = Caller(key_id=uuid.uuid4().hex[:8], tenant="t", tier="normal", scopes=frozenset({"graphs", "jobs"}))
    with_llm = Caller(key_id=uuid.uuid4().hex[:8], tenant="t", tier="normal", scopes=frozenset({"llm", "jobs"}))

    async def run():
        await guard.admit_replay(graphs_only, "POST", "/v1/graphs/recommend", "graphs")
        for path, family in (("/v1/chat/completions", "llm"), ("/v1/jobs/dead-letters/x/requeue", "admin")):
            with pytest.raises(Forbidden):
                await guard.admit_replay(graphs_only, "POST", path, family)
        await guard.admit_replay(with_llm, "POST", "/v1/completions", "llm")
        await guard.charge(with_llm, 11)  # over this minute's 10 tokens
        with pytest.raises(RateLimited):
            await guard.admit_replay(with_llm, "POST", "/v1/completions", "llm")

    asyncio.run(run())
