"""review_analysis's answer quality on hand-written English reviews (benchmarks/data/reviews_en.jsonl, labelled by
hand; testkit/review_labels.py), side by side in one run:
- `graph`: the platform's `POST /v1/graphs/review_analysis` as deployed (English reviews go to the pretrained
  instruction model with constrained answers, serve_app/common/review_prompts.py), one review per call, each call
  its own restaurant so that no answer is reused;
- `task_model`: the task model trained here answering the same reviews, PII masked as the graph does, with the
  prompts it was trained on (graphs.functions.task_prompt), on the platform's `POST /infer`: its first generator
  (LLMServer), greedy, a long prompt cut to the 256-token window as the graph's nodes cut it (OpenAI's routes
  refuse it instead); its three tasks at once, as the graph's branches run;
- `majority`: the commonest label and the most often liked aspect, for every review.
Sentiment accuracy, strengths precision and recall (micro over the aspects), the share of answers
llm_tasks.degenerate flags, latency p50/p99 one review at a time, and the graph's ratios to each baseline.
A platform that does not answer is reported missing. Writes benchmarks/results/review_quality.{json,md}.

Run against a running platform: `.venv/bin/python -m benchmarks.review_quality [--platform-url URL]`."""

import argparse
import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

from benchmarks.llm_load import quantile_ms
from graphs.functions import lines, masked_reviews, task_prompt
from serve_app.common.generation import GenerationRequest
from serve_app.common.llm_tasks import SENTIMENTS
from serve_app.llm.service import SOURCE_HEADER
from serve_app.ops.local_cluster import admin_headers
from testkit.results import markdown_table, write_results
from testkit.review_labels import Analysis, LabelledReview, labelled_reviews, majority_answers, quality

logger = logging.getLogger("benchmarks")
TASKS = ("sentiment", "summary", "strengths")
FIGURES = ("sentiment_accuracy", "strengths_precision", "strengths_recall", "degenerate")


class NotFromEngine(Exception):
    """An answer the semantic cache or the configured fallback gave: it says nothing of the model."""


async def graph_analysis(client: httpx.AsyncClient, review: LabelledReview, restaurant_id: str) -> Analysis:
    body = {"restaurant_id": restaurant_id, "analysis": "review_quality", "reviews": [review.text]}
    response = (await client.post("/v1/graphs/review_analysis", json=body)).raise_for_status().json()
    if response.get("reused"):
        raise NotFromEngine("graph's reuse window")
    return Analysis(sentiment=response["sentiment"], strengths=response["strengths"], summary=response["summary"])


async def infer_answer(client: httpx.AsyncClient, request: GenerationRequest) -> str:
    """A one-turn request as S1's /infer takes it (the user's turn, cut to fit the window)."""
    body = {"query": request.messages[0].content, "max_length": request.sampling.max_tokens,
            "temperature": request.sampling.temperature}
    response = (await client.post("/infer", json=body)).raise_for_status()
    if response.headers.get(SOURCE_HEADER, "engine") != "engine":
        raise NotFromEngine(response.headers[SOURCE_HEADER])
    return response.json()["generated_text"].strip()  # as LLMServer.answer strips it


async def task_model_analysis(client: httpx.AsyncClient, review: LabelledReview) -> Analysis:
    reviews = lines(masked_reviews([review.text]))
    answers = await asyncio.gather(*(infer_answer(client, task_prompt(task, reviews=reviews)) for task in TASKS))
    return Analysis(**dict(zip(TASKS, answers)))


async def measure(reviews: list[LabelledReview], analyse: Callable[[int, LabelledReview], Awaitable[Analysis]]) \
        -> tuple[list[Analysis | None], list[float], str]:
    """Each review's answer (None for a failed call) and latency, one call at a time, and a note on the failures.
    Stops when the platform refuses the connection: the system is missing."""
    answers, latencies, failures = [], [], []
    for i, review in enumerate(reviews):
        started = time.perf_counter()
        try:
            answers.append(await analyse(i, review))
            latencies.append(1000 * (time.perf_counter() - started))
        except httpx.ConnectError as error:
            return [], [], f"unreachable ({type(error).__name__})"
        except httpx.TransportError as error:  # a timeout: this call failed, the platform is there
            answers.append(None)
            failures.append(type(error).__name__)
        except httpx.HTTPStatusError as error:
            answers.append(None)
            failures.append(f"HTTP {error.response.status_code}: {' '.join(error.response.text[:120].split())}")
        except NotFromEngine as error:
            answers.append(None)
            failures.append(f"answered by the {error}, not the model")
    return answers, latencies, f"{len(failures)} failed" + (f", first: {failures[0]}" if failures else "")


def figures(reviews: list[LabelledReview], answers: list[Analysis | None], latencies: list[float]) -> dict:
    return {**quality(reviews, answers), "latency_p50_ms": quantile_ms(latencies, 0.5),
            "latency_p99_ms": quantile_ms(latencies, 0.99)}


def ratios(graph: dict, baseline: dict) -> dict:
    def ratio(key: str) -> float | None:
        return round(graph[key] / baseline[key], 2) if graph.get(key) is not None and baseline.get(key) else None

    return {key: ratio(key) for key in (*FIGURES[:3], "latency_p50_ms")}


def report(systems: dict[str, dict | None], notes: dict[str, str], compared: dict[str, dict], config: dict) -> str:
    def cell(value) -> str:
        return "–" if value is None else str(value)

    columns = (*FIGURES, "latency_p50_ms", "latency_p99_ms")
    ratio_rows = [[name, *map(cell, ratio.values())] for name, ratio in compared.items()]
    rows = [[name, "missing", *[""] * len(columns)] if row is None else [name, row["answered"], *map(cell, (
        row[key] for key in columns))] for name, row in systems.items()]
    return "\n".join([
        "# review_analysis quality on hand-written English reviews", "",
        f"{config['reviews']} reviews written and labelled by hand (benchmarks/data/reviews_en.jsonl: "
        f"{config['labels']}), one review per call, one call at a time, against {config['platform_url']}. "
        "Strengths are the aspects a reviewer likes (precision and recall micro over food, service, price, "
        "ambience); degenerate is the share of answer texts that are empty or a repeated-token loop.", "",
        *[f"- {name}: {note}" for name, note in notes.items()], "",
        markdown_table(["system", "answered", "sentiment accuracy", "strengths precision", "strengths recall",
                        "degenerate", "latency p50 ms", "latency p99 ms"], rows),
        *(["", markdown_table(["graph / baseline", "sentiment accuracy", "strengths precision", "strengths recall",
                               "latency p50"], ratio_rows)] if ratio_rows else [])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platform-url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    reviews = labelled_reviews()
    run = uuid.uuid4().hex[:8]  # each run's restaurants are new: the graph's reuse window would answer again

    async def both() -> dict[str, tuple]:
        async with httpx.AsyncClient(base_url=args.platform_url, headers=admin_headers(), timeout=60) as client:
            return {"graph": await measure(reviews, lambda i, review: graph_analysis(
                        client, review, f"review-quality-{run}-{i}")),
                    "task_model": await measure(reviews, lambda i, review: task_model_analysis(client, review))}

    measured = asyncio.run(both())
    systems = {name: figures(reviews, answers, latencies) if answers else None
               for name, (answers, latencies, _) in measured.items()}
    systems["majority"] = figures(reviews, majority_answers(reviews), [])
    notes = {"graph": "POST /v1/graphs/review_analysis: " + measured["graph"][2],
             "task_model": "POST /infer (LLMServer), the trained prompts (task_prompt): " + measured["task_model"][2],
             "majority": f"always {majority_answers(reviews)[0].sentiment!r}, strengths "
                         f"{majority_answers(reviews)[0].strengths!r}"}
    compared = {name: ratios(systems["graph"], systems[name])
                for name in ("task_model", "majority") if systems["graph"] and systems[name]}
    labels = Counter(review.sentiment for review in reviews)
    config = {"reviews": len(reviews), "labels": ", ".join(f"{labels[label]} {label}" for label in SENTIMENTS),
              "platform_url": args.platform_url, "run": run}
    text = report(systems, notes, compared, config) + "\n"
    answers = {name: [answer and answer.model_dump() for answer in measured_answers]
               for name, (measured_answers, _, _) in measured.items()}
    write_results("review_quality", {"config": config, "notes": notes, "systems": systems, "ratios": compared,
                                     "answers": answers}, text)
    logger.info(text)


if __name__ == "__main__":
    main()
