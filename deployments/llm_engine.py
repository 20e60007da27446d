"""vLLM specifics of LLMServer: engine defaults for this machine, sampling parameters, and how engine
failures become the platform's errors (S1 §4)."""

from serve_app.common.errors import InferenceFailed, InferenceTimeout, InvalidRequest, PlatformError, as_platform_error
from serve_app.common.generation import SamplingOptions

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


def sampling_params(options: SamplingOptions, prompt_tokens: int, max_model_len: int):
    """vLLM SamplingParams for `options`, streaming deltas (only new text per step)."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    try:
        return SamplingParams(
            n=options.n, temperature=options.temperature, top_p=options.top_p, seed=options.seed,
            stop=list(options.stop) or None, ignore_eos=options.ignore_eos,
            max_tokens=options.max_tokens or max_model_len - prompt_tokens,
            output_kind=RequestOutputKind.DELTA)
    except Exception as error:  # vLLM refuses a combination (greedy with n > 1, ...): the client's mistake
        raise engine_error(error, 0) from None


def engine_error(error: BaseException, timeout_s: float) -> PlatformError:
    """The platform error S1 prescribes for an exception out of the engine."""
    if isinstance(error, TimeoutError):
        return InferenceTimeout.after(timeout_s)
    if _is_validation_error(error):  # vLLM's validation of a request
        return InvalidRequest(str(error))
    # S1 passes any other engine failure's message on with a 503.
    return as_platform_error(error, otherwise=InferenceFailed(str(error) or type(error).__name__))


def _is_validation_error(error: BaseException) -> bool:
    # vLLM raises ValueError or its own VLLMValidationError (not a ValueError) for a request it refuses.
    return not isinstance(error, PlatformError) and (
        isinstance(error, ValueError) or any(cls.__name__ == "VLLMValidationError" for cls in type(error).__mro__))
