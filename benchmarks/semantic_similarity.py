"""Which similarity threshold makes a semantic cache hit mean "the same request", per embedding model: precision
and recall of "similarity >= threshold" on generated Korean and English pairs (testkit/similarity_pairs.py),
scored the way the cache scores them (serve_app/llm/semantic_cache.py: punctuation and case left out, the numbers in
the key) and, to show what that buys, on the raw texts. The cache's default threshold is the lowest that keeps
precision >= 0.99 on the Korean pairs with no different-entity pair at or above it. Also the time to embed 100
texts of 4096 characters. In one process, no Ray.
`python -m benchmarks.semantic_similarity` writes benchmarks/results/semantic_similarity.{json,md,png}."""

import os
import time

import numpy as np

from deployments.backends.text_encoders import TEXT_ENCODERS
from deployments.embedder import Embedder
from testkit.results import RESULTS, markdown_table, write_results
from testkit.similarity_pairs import KINDS, MIN_PRECISION, NAMED, SAME_KINDS, Pair, pairs, precision_recall, scores

PER_KIND, LANGUAGES, CHOSEN_MODEL = 500, ("ko", "en"), "use-multilingual-v3"
# Coarse where no cache would go, fine where the choice is made.
THRESHOLDS = np.round(np.concatenate([np.arange(0.5, 0.8, 0.05), np.arange(0.8, 1.0001, 0.005)]), 3)
LONG_TEXTS, LONG_CHARS, BATCH = 100, 4096, 32  # BATCH: the Embedder's max_batch_size in serve_config.yaml


def lowest(curve: list[dict], **floors) -> dict | None:
    """The lowest threshold's row whose values are all at least `floors` (the best recall that meets them)."""
    return next((row for row in curve if all(row[name] >= floor for name, floor in floors.items())), None)


def evaluate(embedder: Embedder, pairs_: list[Pair], cached: bool) -> dict:
    score = scores(embedder, pairs_, cached)
    same, kinds = np.array([pair.same for pair in pairs_]), np.array([pair.kind for pair in pairs_])
    curve = []
    for threshold in THRESHOLDS:
        precision, recall = precision_recall(score, same, threshold)
        hard_hits = int((score[kinds == "different_entity"] >= threshold).sum())
        curve.append({"threshold": float(threshold), "precision": round(precision, 4), "recall": round(recall, 4),
                      "no_hard_hit": int(hard_hits == 0), "hard_hits": hard_hits,
                      **{f"recall_{kind}": round(float((score[kinds == kind] >= threshold).mean()), 4)
                         for kind in SAME_KINDS}})
    hardest = np.argsort(-np.where(kinds == "different_entity", score, -2.0))[:5]
    return {"curve": curve, "by_kind": {kind: _quantiles(score[kinds == kind]) for kind in KINDS},
            "meets_precision": lowest(curve, precision=MIN_PRECISION),
            "meets_precision_no_hard_hit": lowest(curve, precision=MIN_PRECISION, no_hard_hit=1),
            "hardest_different_entity": [[pairs_[i].first, pairs_[i].second, round(float(score[i]), 3)]
                                         for i in hardest]}


def _quantiles(values: np.ndarray) -> dict:
    return {name: round(float(np.percentile(values, q)), 3) for name, q in
            (("min", 0), ("p5", 5), ("median", 50), ("p95", 95), ("max", 100))}


def long_texts_seconds(embedder: Embedder) -> dict:
    """Seconds to embed LONG_TEXTS texts of LONG_CHARS characters, in the replica's batches of BATCH."""
    seconds = {}
    for language, sentence in (("ko", "오늘 서울 날씨가 정말 좋아서 우리는 한강 공원으로 산책하러 가기로 했습니다. "),
                               ("en", "The weather in Seoul was lovely today, so we went for a walk by the river. ")):
        texts = [(sentence * (LONG_CHARS // len(sentence) + 2))[i:i + LONG_CHARS] for i in range(LONG_TEXTS)]
        started = time.perf_counter()
        tokens = sum(sum(embedder._encode(texts[i:i + BATCH])[1]) for i in range(0, LONG_TEXTS, BATCH))
        seconds[language] = {"seconds": round(time.perf_counter() - started, 2), "tokens": tokens}
    return seconds


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on the machines benchmarks run on
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(LANGUAGES), figsize=(11, 4))
    for axis, language in zip(axes, LANGUAGES):
        for color, (model, by_language) in enumerate(results["models"].items()):
            for strategy, style in (("cache", "-"), ("raw", ":")):
                curve = by_language[language][strategy]["curve"]
                axis.plot([row["recall"] for row in curve], [row["precision"] for row in curve], style,
                          color=f"C{color}", label=f"{model}, {strategy}")
        chosen = results["models"][CHOSEN_MODEL][language]["cache"]["curve"]
        at = next(row for row in chosen if row["threshold"] == results["threshold"])
        axis.plot(at["recall"], at["precision"], "ko", label=f"default threshold {results['threshold']}")
        axis.axhline(MIN_PRECISION, color="grey", linewidth=0.5)
        axis.set(xlabel="recall", ylabel="precision", ylim=(0.5, 1.005), title=f"{language}: same request?")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(RESULTS / "semantic_similarity.png", dpi=100)
    pyplot.close(figure)


def markdown(results: dict) -> str:
    rows = []
    for model, by_language in results["models"].items():
        for language in LANGUAGES:
            for strategy in ("cache", "raw"):
                run = by_language[language][strategy]
                at = next(row for row in run["curve"] if row["threshold"] == results["threshold"])
                cells = [model, language, strategy]
                for pick in ("meets_precision", "meets_precision_no_hard_hit"):
                    row = run[pick]
                    cells.append(f"{row['threshold']}: P {row['precision']}, R {row['recall']}" if row else "none")
                cells += [f"P {at['precision']}, R {at['recall']} (rewording {at['recall_rewording']}, paraphrase "
                          f"{at['recall_paraphrase']}), {at['hard_hits']} hard hits",
                          run["by_kind"]["different_entity"]["max"]]
                rows.append(cells)
    thresholds = markdown_table(["model", "language", "scoring", "lowest threshold with P >= 0.99",
                                 "... and no different-entity hit", f"at {results['threshold']}",
                                 "different-entity max"], rows)
    named = markdown_table(["first", "second", *results["models"]],
                           [[first, second, *(results["named"][model][i] for model in results["models"])]
                            for i, (first, second) in enumerate(NAMED)])
    hardest = markdown_table(["first", "second", "cosine"],
                             results["models"][CHOSEN_MODEL]["ko"]["cache"]["hardest_different_entity"])
    speed = markdown_table(["model", "language", "tokens", "seconds"],
                           [[model, language, run["tokens"], run["seconds"]]
                            for model, by_language in results["long_texts"].items()
                            for language, run in by_language.items()])
    chosen = results["models"][CHOSEN_MODEL]["ko"]["cache"]["curve"]
    curve = markdown_table(["threshold", "precision", "recall", "recall of rewordings", "recall of paraphrases",
                            "different-entity hits"],
                           [[row[key] for key in ("threshold", "precision", "recall", "recall_rewording",
                                                  "recall_paraphrase", "hard_hits")]
                            for row in chosen if row["threshold"] >= 0.9])
    return (
        f"# Semantic similarity: {' vs '.join(results['models'])}\n\n"
        f"Generated pairs (seed 0), {PER_KIND} of each kind per language: the same request reworded (politeness, "
        "spacing, particles, word order, punctuation) or asked another way; the same template with another entity or "
        "number (서울 날씨 / 부산 날씨); unrelated requests. \"cache\" scores a pair as the semantic cache does "
        "(punctuation and case left out, different numbers never match), \"raw\" the texts as written. "
        f"One process on {os.cpu_count()} shared cores, one BLAS thread.\n\n"
        f"**Default `similarity_threshold`: {results['threshold']}** ({CHOSEN_MODEL}, cache scoring): the lowest "
        f"threshold with precision >= {MIN_PRECISION} on the Korean pairs and no different-entity pair at or above "
        f"it.\n\n{thresholds}\n\n"
        f"The hard pairs, cosine (-1: numbers differ, so another cache key):\n\n{named}\n\n"
        f"{CHOSEN_MODEL}, Korean, cache scoring, by threshold:\n\n{curve}\n\n"
        f"The Korean different-entity pairs {CHOSEN_MODEL} scores highest (cache scoring):\n\n{hardest}\n\n"
        f"Embedding {LONG_TEXTS} texts of {LONG_CHARS} characters in batches of {BATCH} (tokens read after "
        f"truncation):\n\n{speed}\n\n![precision and recall](semantic_similarity.png)\n")


def main() -> None:
    results = {"models": {}, "named": {}, "long_texts": {}}
    for model in TEXT_ENCODERS:
        embedder = Embedder.func_or_class(model=model)
        results["models"][model] = {language: {strategy: evaluate(embedder, pairs(language, PER_KIND), cached)
                                               for strategy, cached in (("cache", True), ("raw", False))}
                                    for language in LANGUAGES}
        named = scores(embedder, [Pair(first, second, False, "different_entity", "") for first, second in NAMED],
                       cached=True)
        results["named"][model] = [round(float(score), 3) for score in named]
        results["long_texts"][model] = long_texts_seconds(embedder)
    results["threshold"] = results["models"][CHOSEN_MODEL]["ko"]["cache"]["meets_precision_no_hard_hit"]["threshold"]
    plot(results)
    text = markdown(results)
    print(text)
    write_results("semantic_similarity", results, text)


if __name__ == "__main__":
    main()
