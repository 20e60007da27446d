"""S2's representative top-K against sending every review: prompt tokens and answer quality.

Held-out restaurants with REVIEWS reviews each (English and Korean, generated with their truth: which aspects
the reviews like or not). Three ways to fill review_analysis's prompts:
- `all`: every review (the baseline); the LLM's 256-token window then keeps only the last ones, as
  LLMServer's truncate_prompt does;
- `top_k`: the K reviews closest to the mean embedding (graphs/functions.py `representative_reviews`, S2's way),
  embedded with the Embedder's configured model;
- `top_k_diverse`: the same with `diversity` 0.5 (each pick also keeps away from those picked), as the
  review_analysis graph does past K reviews;
- `first_k`: the first K reviews, a naive cut of the same size.
Answers are the built LLM's (transformers, greedy, the served prompt encoding), judged against the truth of
*all* the reviews with the quality gates' figures (serve_app/artifacts/llm_quality.py).
In-process, without Ray: the quantities are tokens and answer quality, not serving latency.
`python -m benchmarks.review_topk` writes benchmarks/results/review_topk.{json,md}."""

import random
import statistics
import time

from transformers import AutoTokenizer

from deployments.embedder import Embedder
from graphs.functions import lines, masked_reviews, representative_reviews
from serve_app.app import serve_config_args
from serve_app.artifacts import ArtifactLayout, llm_quality, task_data
from serve_app.common import llm_tasks
from serve_app.common.settings import PlatformSettings
from testkit.results import markdown_table, write_results

RESTAURANTS, REVIEWS, K, SEED, DIVERSITY = 40, 20, 5, 4, 0.5
TASKS = ("sentiment", "summary", "strengths")
# What LLMServer keeps of a prompt cut to fit the window (truncate_prompt leaves room for the answer).
WINDOW = task_data.CONTEXT_TOKENS - max(llm_tasks.MAX_TOKENS[task] for task in TASKS)
FIGURES = ("sentiment_accuracy", "strengths_precision", "strengths_recall", "summary_aspects_named")


def main() -> None:
    model_dir = ArtifactLayout(root=PlatformSettings().artifacts_dir).llm
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    embedder = Embedder.func_or_class(**serve_config_args().models["Embedder"].init_args)
    rng = random.Random(SEED)
    restaurants = [task_data.restaurant(rng, language, REVIEWS)
                   for language in llm_tasks.LANGUAGES for _ in range(RESTAURANTS)]
    started = time.perf_counter()
    chosen = {"all": [], "top_k": [], "top_k_diverse": [], "first_k": []}
    for shown in restaurants:
        reviews = masked_reviews(shown.reviews)
        chosen["all"].append(lines(reviews))
        vectors, _ = embedder._encode(reviews)  # unit vectors, as the Embedder answers
        chosen["top_k"].append(representative_reviews(reviews, vectors.tolist(), K))
        chosen["top_k_diverse"].append(representative_reviews(reviews, vectors.tolist(), K, DIVERSITY))
        chosen["first_k"].append(lines(reviews[:K]))
    embed_ms = 1000 * (time.perf_counter() - started) / len(restaurants)
    rows = {}
    for variant, texts in chosen.items():
        examples = [task_data.Example(task, shown.language, llm_tasks.prompt(task, reviews=text), "", shown.opinions)
                    for task in TASKS for shown, text in zip(restaurants, texts)]
        tokens = [len(task_data.prompt_ids(tokenizer, example.prompt)) for example in examples]
        started = time.perf_counter()
        answers = zip(examples, llm_quality.generate(model_dir, [example.prompt for example in examples]))
        rows[variant] = {
            "prompt_tokens_mean": round(statistics.mean(tokens), 1),
            "prompt_tokens_sent_mean": round(statistics.mean(min(t, WINDOW) for t in tokens), 1),
            "prompts_cut": sum(t > WINDOW for t in tokens),
            "generate_s": round(time.perf_counter() - started, 1),
            "quality": llm_quality.score(answers),
        }
    saving = {variant: round(1 - row["prompt_tokens_mean"] / rows["all"]["prompt_tokens_mean"], 3)
              for variant, row in rows.items() if variant != "all"}
    model = embedder.encoder.name
    write_results("review_topk", {"restaurants": len(restaurants), "reviews_each": REVIEWS, "k": K,
                                  "embedder": model, "embed_ms_per_restaurant": round(embed_ms, 1),
                                  "token_saving": saving,
                                  "variants": rows}, _markdown(rows, saving, embed_ms, len(restaurants), model))


def _markdown(rows: dict, saving: dict, embed_ms: float, restaurants: int, embedder: str) -> str:
    half = restaurants // 2
    head = (f"# Representative top-K vs every review\n\n{restaurants} held-out restaurants ({half} English, "
            f"{half} Korean), {REVIEWS} reviews each, K = {K}; answers judged against the truth of "
            f"all {REVIEWS} reviews. Prompt tokens saved against every review (S2 reports 60-80%): "
            + ", ".join(f"{variant} **{share:.0%}**" for variant, share in saving.items())
            + f"; embedding {REVIEWS} reviews ({embedder}) and picking K took {embed_ms:.0f} ms "
            "per restaurant. In-process (no client, no Serve): transformers greedy on the served prompt "
            "encoding.\n\n")
    table = markdown_table(
        ["variant", "prompt tokens (mean)", f"sent (window {WINDOW})", "prompts cut", "language", *FIGURES,
         "degenerate"],
        [[variant, row["prompt_tokens_mean"], row["prompt_tokens_sent_mean"], row["prompts_cut"], language,
          *(figures[f] for f in FIGURES), figures["degenerate"]]
         for variant, row in rows.items() for language, figures in sorted(row["quality"].items())])
    return head + table + "\n"


if __name__ == "__main__":
    main()
