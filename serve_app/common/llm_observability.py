"""Per-request LLM timings (TTFT, TPOT, tokens/s), their Ray Serve metrics and the JSON log line."""

import logging
import time
from collections.abc import Iterable

from ray.serve.metrics import Counter, Gauge, Histogram

from serve_app.common.text_preprocessing import log_excerpt

logger = logging.getLogger("ray.serve")
_LATENCY_BOUNDARIES_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30]


class GenerationTimer:
    """Clock of one request: started, first token, finished, and how many tokens came out."""

    def __init__(self):
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.finished_at: float | None = None
        self.completion_tokens = 0

    def tokens(self, count: int) -> None:
        if count and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.completion_tokens += count

    def finish(self) -> None:
        self.finished_at = time.perf_counter()

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first."""
        if self.first_token_at is None or self.completion_tokens < 2:
            return None
        return (self.finished_at - self.first_token_at) / (self.completion_tokens - 1)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / max(self.finished_at - self.started, 1e-9)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class LLMMetrics:
    """Ray Serve metrics of one LLMServer replica, tagged with the model id."""

    def __init__(self, model_id: str, ttft_sla_s: float = 2.0):
        self.tags = {"model": model_id}
        self.ttft_sla_s = ttft_sla_s
        self.ttft = Histogram("llm_ttft_seconds", "Time to first token.", _LATENCY_BOUNDARIES_S, ("model",))
        self.tpot = Histogram("llm_tpot_seconds", "Time per output token after the first.",
                              _LATENCY_BOUNDARIES_S, ("model",))
        self.prompt_tokens = Counter("llm_prompt_tokens", "Prompt tokens processed.", ("model",))
        self.completion_tokens = Counter("llm_completion_tokens", "Tokens generated.", ("model",))
        self.requests = Counter("llm_requests", "Finished requests by result.", ("model", "result"))
        self.goodput = Counter("llm_goodput_requests", "Successful requests whose TTFT met the SLA.", ("model",))
        self.finish_reasons = Counter("llm_finish_reasons", "Generated choices by how they ended: stop, length, "
                                      "repetition (the repetition guard cut a loop).", ("model", "reason"))
        self.waiting = Gauge("llm_admission_waiting", "Requests waiting for an engine slot.", ("model",))
        self.running = Gauge("llm_admission_running", "Requests holding an engine slot.", ("model",))

    def admission(self, running: int, waiting: int) -> None:
        self.running.set(running, tags=self.tags)
        self.waiting.set(waiting, tags=self.tags)

    def choices_finished(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.finish_reasons.inc(tags={**self.tags, "reason": reason})

    def record(self, timer: GenerationTimer, prompt_tokens: int, result: str, query: str) -> None:
        """Count one finished request and write its log line (query PII-masked, cut to 50 chars)."""
        timer.finish()
        self.requests.inc(tags={**self.tags, "result": result})
        self.prompt_tokens.inc(prompt_tokens, tags=self.tags)
        if timer.completion_tokens:
            self.completion_tokens.inc(timer.completion_tokens, tags=self.tags)
        if timer.ttft_s is not None:
            self.ttft.observe(timer.ttft_s, tags=self.tags)
            if result == "SUCCESS" and timer.ttft_s <= self.ttft_sla_s:
                self.goodput.inc(tags=self.tags)
        if timer.tpot_s is not None:
            self.tpot.observe(timer.tpot_s, tags=self.tags)
        logger.info("llm request finished", extra={
            "model": self.tags["model"], "result": result, "query": log_excerpt(query),
            "prompt_tokens": prompt_tokens, "completion_tokens": timer.completion_tokens,
            "ttft_ms": _ms(timer.ttft_s), "tpot_ms": _ms(timer.tpot_s),
            "tokens_per_s": round(timer.tokens_per_s, 1),
            "latency_ms": _ms(timer.finished_at - timer.started)})
