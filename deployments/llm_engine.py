"""vLLM specifics of LLMServer: engine defaults for this machine, sampling parameters, and how engine
failures become the platform's errors (S1 §4)."""

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.common.errors import InferenceFailed, InferenceTimeout, InvalidRequest, PlatformError, as_platform_error
from serve_app.common.generation import Delta, SamplingOptions, StructuredOutput, TokenLogprob, TopLogprob

# Set before the engine starts (setdefault, so a runtime_env can still override them).
ENGINE_ENV = {
    # AsyncLLM always runs its engine core in a child process; "0" keeps the model worker inside
    # that process instead of a third one (~0.9 GiB less, start-up ~9 s instead of ~17 s on CPU).
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    # "auto" pins the OpenMP threads of every replica on a node to the same core; leave
    # placement to the OS and the replica's num_cpus.
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "VLLM_NO_USAGE_STATS": "1",
    # vLLM's own logging set-up runs dictConfig, which closes every existing handler, Serve's
    # JSON log file included: the replica would log nothing after the import.
    "VLLM_CONFIGURE_LOGGING": "0",
}
DEFAULT_ENGINE_ARGS = {
    "dtype": "float32",
    "max_model_len": 256,
    # No torch.compile: start-up in seconds, and a tiny model gains nothing from it.
    "enforce_eager": True,
    # The CPU KV cache is plain RAM; without an explicit size vLLM reserves a fraction of the host.
    "kv_cache_memory_bytes": 128 << 20,
    "max_num_seqs": 32,
    "disable_log_stats": True,
}


class RepetitionGuard(BaseModel):
    """Ends a generation whose last tokens repeat one pattern (vLLM's repetition detection, finish_reason
    "repetition"): a small model caught in a loop stops instead of running to max_tokens. vLLM ends it once the
    last `min_count` x L tokens are one pattern of L tokens, for any L from min to max_pattern_size. The
    defaults leave ordinary text alone: a one-token pattern ("1000000" is seven digit tokens, "very very very")
    must come 16 times in a row, a pattern of 4 to 16 tokens (",000" in "1,000,000,000") 4 times."""

    model_config = ConfigDict(extra="forbid")

    min_pattern_size: int = Field(default=4, ge=1)
    max_pattern_size: int = Field(default=16, ge=1)
    min_count: int = Field(default=4, ge=2)

    @model_validator(mode="after")
    def _sizes_in_order(self) -> "RepetitionGuard":
        if self.min_pattern_size > self.max_pattern_size:
            raise ValueError("min_pattern_size must not be above max_pattern_size")
        return self


def async_engine_args(model_dir: str, overrides: dict | None = None):
    """vLLM's AsyncEngineArgs for the model at `model_dir`: DEFAULT_ENGINE_ARGS, `overrides` (serve_config.yaml's
    engine_args) over them."""
    from vllm import AsyncEngineArgs
    from vllm.config import StructuredOutputsConfig

    args = {**DEFAULT_ENGINE_ARGS, **(overrides or {})}
    # One grammar backend for every request. The engine keeps the one its first structured request chose, so under
    # "auto" a schema only the fallback (guidance) takes failed or not by the order requests came in; xgrammar
    # refuses what it cannot compile as the request is added (400). A dict (YAML) is made the config it must be.
    args["structured_outputs_config"] = StructuredOutputsConfig(
        **{"backend": "xgrammar", **args.get("structured_outputs_config", {})})
    return AsyncEngineArgs(model=model_dir, **args)


def sampling_params(options: SamplingOptions, prompt_tokens: int, max_model_len: int,
                    guard: RepetitionGuard | None = None):
    """vLLM SamplingParams for `options`, streaming deltas (only new text per step), under `guard`."""
    from vllm import SamplingParams
    from vllm.sampling_params import RepetitionDetectionParams, RequestOutputKind

    # ignore_eos asks for exactly max_tokens tokens (benchmarks compare systems so): nothing may end it early.
    repetition = None if guard is None or options.ignore_eos else RepetitionDetectionParams(**guard.model_dump())
    try:
        return SamplingParams(
            n=options.n, temperature=options.temperature, top_p=options.top_p, seed=options.seed,
            presence_penalty=options.presence_penalty, frequency_penalty=options.frequency_penalty,
            stop=list(options.stop) or None, ignore_eos=options.ignore_eos,
            max_tokens=options.max_tokens or max_model_len - prompt_tokens, logprobs=options.logprobs,
            structured_outputs=_structured_outputs(options.structured), repetition_detection=repetition,
            output_kind=RequestOutputKind.DELTA)
    except Exception as error:  # vLLM refuses a combination (greedy with n > 1, ...): the client's mistake
        raise engine_error(error, 0) from None


def _structured_outputs(structured: StructuredOutput | None):
    """vLLM's StructuredOutputsParams; a schema or regex it cannot compile fails the request, as a
    VLLMValidationError, when the engine adds it."""
    from vllm.sampling_params import StructuredOutputsParams

    if structured is None:
        return None
    return StructuredOutputsParams(choice=list(structured.choice) if structured.choice else None,
                                   json=structured.json_schema, json_object=structured.json_object or None,
                                   regex=structured.regex)


def delta_of(output, options: SamplingOptions) -> Delta:
    """vLLM's CompletionOutput (one step of one choice) as a Delta, with its tokens' log-probabilities when
    `options` asked for them. A choice the engine ended with an error raises."""
    if output.finish_reason == "error":
        # The engine core compiles a structured output's grammar after it accepted the request: a grammar that
        # fails there (or rejects a token) ends the request so, with no text.
        raise InvalidRequest("the engine could not compile the output's constraint (its JSON schema, regex or "
                             "choices)") if options.structured else InferenceFailed("the engine ended the generation")
    logprobs = None
    if options.logprobs is not None:
        logprobs = [_token_logprob(token_id, alternatives, options.logprobs)
                    for token_id, alternatives in zip(output.token_ids, output.logprobs)]
    return Delta(index=output.index, text=output.text, finish_reason=output.finish_reason, logprobs=logprobs)


def _token_logprob(token_id: int, alternatives: dict, top: int) -> TokenLogprob:
    # vLLM gives the `top` most likely tokens and the chosen one (ranked lower when it is not among them).
    ranked = sorted(alternatives.values(), key=lambda logprob: logprob.rank)[:top]
    return TokenLogprob(**_top_logprob(alternatives[token_id]).model_dump(),
                        top_logprobs=[_top_logprob(logprob) for logprob in ranked])


def _top_logprob(logprob) -> TopLogprob:
    token = logprob.decoded_token or ""
    # JSON has no -inf; vLLM's own server writes this floor too.
    return TopLogprob(token=token, logprob=max(logprob.logprob, -9999.0),
                      bytes=list(token.encode("utf-8", errors="replace")))


def engine_error(error: BaseException, timeout_s: float) -> PlatformError:
    """The platform error S1 prescribes for an exception out of the engine."""
    if isinstance(error, TimeoutError):
        return InferenceTimeout.after(timeout_s)
    if _is_validation_error(error):  # vLLM's validation of a request
        return InvalidRequest(_NATIVE_LOG_PREFIX.sub("", str(error)).strip())
    # S1 passes any other engine failure's message on with a 503.
    return as_platform_error(error, otherwise=InferenceFailed(str(error) or type(error).__name__))


# xgrammar's messages (a schema it cannot compile) carry its log line's time and C++ source: not the client's concern.
_NATIVE_LOG_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def _is_validation_error(error: BaseException) -> bool:
    # vLLM raises ValueError or its own VLLMValidationError (not a ValueError) for a request it refuses.
    return not isinstance(error, PlatformError) and (
        isinstance(error, ValueError) or any(cls.__name__ == "VLLMValidationError" for cls in type(error).__mro__))
