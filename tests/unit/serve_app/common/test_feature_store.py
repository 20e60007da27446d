"""The Feast repo on SQLite and Redis: incremental materialization, FeatureLookup's defaults; no Ray."""

import asyncio
from datetime import datetime, timezone

import pandas as pd
import pytest
import redis
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from tqdm import tqdm

from deployments.feature_lookup import FeatureLookup
from serve_app.artifacts import ArtifactLayout, recsys
from serve_app.artifacts.materialize import materialize
from serve_app.common.feature_store import feast_redis_connection

# A Redis database of its own, so tests never touch what a running platform serves from database 0.
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
SAMPLE_USERS = [*range(1, 501, 37), 10_000]


def count_writes(monkeypatch) -> list[int]:
    """From now on, the number of rows each online store write receives."""
    written = []
    for store in (SqliteOnlineStore, RedisOnlineStore):
        def counting(self, config, table, data, progress, write=store.online_write_batch):
            written.append(len(data))
            return write(self, config, table, data, progress)
        monkeypatch.setattr(store, "online_write_batch", counting)
    return written


@pytest.fixture(scope="module")
def redis_lookup(built) -> FeatureLookup:
    """FeatureLookup on Redis after the store's first `materialize`, into an emptied test database."""
    # `make test` starts redis-server first, so a missing server fails here rather than skipping.
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PLATFORM_REDIS_URL", TEST_REDIS_URL)
        materialize(built[0].feature_repo, "redis")
        yield FeatureLookup.func_or_class(str(built[0].feature_repo), "redis")


@pytest.mark.parametrize(("url", "connection"), [
    ("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0"),
    ("rediss://app:p%40ss@cache.internal/3", "cache.internal:6379,db=3,ssl=true,username=app,password=p@ss"),
])
def test_redis_url_becomes_feast_connection_string(url, connection):
    assert feast_redis_connection(url) == connection


def test_first_redis_materialization_loads_every_user_and_item(redis_lookup):
    for feature, key, ids in [("user_features:user_ctr", "user_id", range(1, 501)),
                              ("item_features:item_ctr", "item_id", redis_lookup.item_ids)]:
        rows = redis_lookup.store.get_online_features([feature], {key: list(ids)}).to_dict()
        assert None not in rows[feature.split(":")[1]]


def test_sqlite_and_redis_serve_the_same_features(lookup, redis_lookup):
    for user_id in SAMPLE_USERS:
        assert asyncio.run(lookup.lookup(user_id)) == asyncio.run(redis_lookup.lookup(user_id))


@pytest.mark.parametrize("store_lookup", ["lookup", "redis_lookup"])
def test_materialize_again_writes_nothing_and_keeps_features(built, lookup, store_lookup, request,
                                                             monkeypatch):
    """A repeated `make materialize` finds no rows newer than its last run and still succeeds."""
    online_store = request.getfixturevalue(store_lookup).store.config.online_store.type
    monkeypatch.setenv("PLATFORM_REDIS_URL", TEST_REDIS_URL)
    written = count_writes(monkeypatch)
    materialize(built[0].feature_repo, online_store)
    assert sum(written) == 0
    fresh = FeatureLookup.func_or_class(str(built[0].feature_repo), online_store)
    assert asyncio.run(fresh.lookup(1)) == asyncio.run(lookup.lookup(1))


def test_redis_never_materialized_names_the_fix(built, monkeypatch, tmp_path):
    monkeypatch.setenv("PLATFORM_REDIS_URL", TEST_REDIS_URL)
    repo = tmp_path / "feature_repo"
    repo.mkdir()
    for name in ("feature_store.redis.yaml", "data/defaults.json"):
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes((built[0].feature_repo / name).read_bytes())
    with pytest.raises(RuntimeError, match="make materialize"):
        FeatureLookup.func_or_class(str(repo), "redis")


@pytest.mark.slow
def test_new_catalog_item_ranks_on_defaults_until_materialized(tmp_path, ranker, monkeypatch):
    layout = ArtifactLayout(root=tmp_path)
    with tqdm(disable=True) as progress:
        recsys.build(layout.ranker, layout.feature_repo, progress)
    source = layout.feature_repo / "data" / "items.parquet"
    new = {"item_id": 201, "category": 3, "item_ctr": 0.5, "item_impressions": 40,
           "event_timestamp": datetime.now(timezone.utc)}
    pd.concat([pd.read_parquet(source), pd.DataFrame([new])]).to_parquet(source, index=False)

    lookup = FeatureLookup.func_or_class(str(layout.feature_repo))
    before = asyncio.run(lookup.lookup(1))
    assert before.item_ids[-1] == 201
    assert {name: column[-1] for name, column in before.items.items()} == lookup.defaults.item
    assert 201 in {row["item_id"] for row in ranker.rank_alone(before, k=201)}

    written = count_writes(monkeypatch)
    materialize(layout.feature_repo, "sqlite")
    assert sum(written) == 1
    after = asyncio.run(FeatureLookup.func_or_class(str(layout.feature_repo)).lookup(1))
    assert after.items["category"][-1] == 3 and after.items["item_ctr"][-1] == pytest.approx(0.5)
