"""FeatureLookup on the SQLite online store vs on Redis: direct calls in one process, no Ray.
Writes benchmarks/results/feature_lookup.{json,md}.

Two rows per store: `lookup` is what each recommend request pays (one user read next to the cached
catalog), `catalog refresh` what a replica pays every ITEM_REFRESH_S to re-read all items.
Run: `.venv/bin/python -m benchmarks.feature_lookup` (Redis at PLATFORM_REDIS_URL; it is materialized first).
"""

import asyncio
import logging
import os

from deployments.feature_lookup import ITEM_REFRESH_S, FeatureLookup
from serve_app.artifacts import ArtifactLayout
from serve_app.artifacts.materialize import materialize
from serve_app.common.settings import PlatformSettings
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import markdown_table, write_results

logger = logging.getLogger("benchmarks")
STORES = ("sqlite", "redis")
LOOKUPS, REFRESHES, USERS = 500, 100, 500
TARGET_P99_MS = 5.0


async def measure(lookup: FeatureLookup) -> dict[str, LoadResult]:
    async def one_user(i: int) -> bool:
        return (await lookup.lookup(1 + i % USERS)).known_user

    async def whole_catalog(_: int) -> bool:
        await asyncio.to_thread(lookup.refresh_items)
        return True

    await closed_loop(one_user, 1, 50)
    return {"lookup": await closed_loop(one_user, 1, LOOKUPS),
            "catalog refresh": await closed_loop(whole_catalog, 1, REFRESHES)}


def table(rows: list[dict]) -> str:
    return markdown_table(["store", "call", "calls", "errors", "p50 ms", "p99 ms", "calls/s"],
                          [[r[key] for key in ("store", "call", "requests", "errors", "p50_ms", "p99_ms", "req_per_s")]
                           for r in rows])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("feast").setLevel(logging.WARNING)
    repo = ArtifactLayout(root=PlatformSettings().artifacts_dir).feature_repo
    load = os.getloadavg()[0]
    rows = []
    for store in STORES:
        materialize(repo, store)
        results = asyncio.run(measure(FeatureLookup.func_or_class(str(repo), store)))
        rows += [{"store": store, "call": call, **result.model_dump()} for call, result in results.items()]
    lookups = [row for row in rows if row["call"] == "lookup"]
    verdict = ", ".join(f"{r['store']} {'meets' if r['p99_ms'] <= TARGET_P99_MS else 'misses'} it"
                        for r in lookups)
    summary = {"target_p99_ms": TARGET_P99_MS, "item_refresh_s": ITEM_REFRESH_S, "load_average_1m": load,
               "rows": rows}
    write_results(
        "feature_lookup", summary,
        "# FeatureLookup: SQLite vs Redis online store\n\n"
        f"Direct calls of `FeatureLookup.lookup` (the Serve path minus the handle hop), one at a time, "
        f"users 1-{USERS} in turn, 200 catalog items; 1-minute load average at start {load:.1f} on "
        f"{os.cpu_count()} cores. Lookup p99 target {TARGET_P99_MS} ms: {verdict}.\n\n{table(rows)}\n")
    logger.info("%s", table(rows))


if __name__ == "__main__":
    main()
