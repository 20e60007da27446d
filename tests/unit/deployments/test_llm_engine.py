"""What LLMServer asks of vLLM (SamplingParams from SamplingOptions, the repetition guard) and how vLLM's outputs
come back across the handle (Deltas with log-probabilities). vLLM's own classes, no engine."""

import json

import pytest
from vllm.logprobs import Logprob
from vllm.outputs import CompletionOutput
from vllm.v1.core.sched.utils import check_sequence_repetition

from deployments.llm_engine import RepetitionGuard, async_engine_args, delta_of, engine_error, sampling_params
from serve_app.common.errors import InferenceFailed, InvalidRequest
from serve_app.common.generation import SamplingOptions, StructuredOutput

GUARD = RepetitionGuard()


def _params(guard: RepetitionGuard | None = GUARD, **options):
    return sampling_params(SamplingOptions(**options), prompt_tokens=4, max_model_len=256, guard=guard)


def test_sampling_options_reach_vllm():
    params = _params(seed=7, presence_penalty=0.5, frequency_penalty=-1.0, logprobs=3, temperature=0.3,
                     stop=("\n",), max_tokens=12)
    assert (params.seed, params.presence_penalty, params.frequency_penalty, params.logprobs) == (7, 0.5, -1.0, 3)
    assert (params.temperature, params.stop, params.max_tokens) == (0.3, ["\n"], 12)
    assert _params().logprobs is None and _params().structured_outputs is None


@pytest.mark.parametrize("structured, expected", [
    (StructuredOutput(choice=("positive", "negative")), {"choice": ["positive", "negative"]}),
    (StructuredOutput(json_schema=json.dumps({"type": "object"})), {"json": '{"type": "object"}'}),
    (StructuredOutput(json_object=True), {"json_object": True}),
    (StructuredOutput(regex=r"\d+"), {"regex": r"\d+"}),
])
def test_a_structured_output_is_vllms_one_constraint(structured, expected):
    params = _params(structured=structured).structured_outputs
    constraints = {name: getattr(params, name) for name in ("choice", "json", "json_object", "regex")}
    assert {name: value for name, value in constraints.items() if value is not None} == expected


def test_the_guard_applies_unless_eos_is_ignored():
    detection = _params().repetition_detection
    assert (detection.min_pattern_size, detection.max_pattern_size, detection.min_count) == (4, 16, 4)
    assert _params(ignore_eos=True).repetition_detection is None  # benchmarks ask for exactly max_tokens
    assert _params(guard=None).repetition_detection is None


def _detects(token_ids: list[int]) -> bool:
    return check_sequence_repetition(token_ids, _params().repetition_detection)


def test_the_default_guard_ends_loops():
    words = [101, 102, 103, 104, 105, 106]
    assert _detects(words + [7] * 16)  # one token, 16 times
    assert _detects(words + [8, 9] * 8)
    assert _detects(words + list(range(200, 216)) * 4)  # 16 tokens, 4 times
    assert not _detects(words + [7] * 15)
    assert not _detects(words + list(range(200, 217)) * 4)  # longer than max_pattern_size


def test_the_default_guard_leaves_ordinary_text_alone():
    """Token ids of SmolLM2's tokenizer: "1000000" is seven digit tokens, "1,000,000,000" repeats ",000" three
    times, a markdown list and "very very very" repeat short patterns."""
    one_million = [33, 32, 32, 32, 32, 32, 32]
    one_billion = [33, 28, 32, 32, 32, 28, 32, 32, 32, 28, 32, 32, 32]
    very = [1035, 1035, 1035]
    listing = [29, 253, 198, 29, 278, 198, 29, 265]  # "- a\n- b\n- c"
    for text in (one_million, one_billion, very, listing, one_million + very + one_billion):
        assert not _detects([101, 102] + text)


def _output(token_ids: list[int], logprobs: list[dict], finish_reason: str | None = None) -> CompletionOutput:
    return CompletionOutput(index=1, text="".join(logprobs[i][t].decoded_token for i, t in enumerate(token_ids)),
                            token_ids=token_ids, cumulative_logprob=None, logprobs=logprobs,
                            finish_reason=finish_reason)


def test_a_delta_carries_the_tokens_logprobs_and_their_ranked_alternatives():
    # vLLM gives the asked top-k and the chosen token, which may rank lower (sampled, not greedy).
    first = {5: Logprob(-0.1, 1, " The"), 6: Logprob(-2.5, 2, " A"), 9: Logprob(-4.0, 7, " One")}
    second = {3: Logprob(float("-inf"), 2, "é"), 4: Logprob(-0.01, 1, " food")}
    delta = delta_of(_output([9, 3], [first, second], "stop"), SamplingOptions(logprobs=2))
    assert (delta.index, delta.text, delta.finish_reason) == (1, " Oneé", "stop")
    chosen, accented = delta.logprobs
    assert (chosen.token, chosen.logprob, chosen.bytes) == (" One", -4.0, [32, 79, 110, 101])
    assert [(top.token, top.logprob) for top in chosen.top_logprobs] == [(" The", -0.1), (" A", -2.5)]
    assert (accented.logprob, accented.bytes) == (-9999.0, [195, 169])  # JSON has no -inf
    assert delta_of(_output([9], [first]), SamplingOptions(logprobs=0)).logprobs[0].top_logprobs == []
    assert delta_of(_output([9], [first]), SamplingOptions()).logprobs is None


def test_engine_args_pin_one_grammar_backend():
    """Under "auto" the engine compiles with the backend of its first structured request, whatever later requests
    were checked with: a schema only guidance takes then ended with finish_reason "error" instead of a 400."""
    assert async_engine_args("/models/m").structured_outputs_config.backend == "xgrammar"
    config = async_engine_args("/models/m", {"structured_outputs_config": {"backend": "guidance"}})
    assert config.structured_outputs_config.backend == "guidance"


def test_xgrammars_log_prefix_is_cut_from_the_clients_message():
    error = ValueError("Failed to transform json schema into a grammar: [08:51:09] /project/cpp/json_schema_"
                       'converter.cc:4944: Unsupported type "nonsense"\n')
    assert engine_error(error, 60).detail == ('Failed to transform json schema into a grammar: '
                                              'Unsupported type "nonsense"')


def test_a_grammar_the_engine_core_could_not_compile_is_the_clients_mistake():
    """Should the engine core fail to compile a grammar its front end accepted, it ends the request with
    finish_reason "error" and no text."""
    failed = CompletionOutput(index=0, text="", token_ids=[], cumulative_logprob=None, logprobs=None,
                              finish_reason="error")
    with pytest.raises(InvalidRequest, match="could not compile"):
        delta_of(failed, SamplingOptions(structured=StructuredOutput(json_schema='{"type": "array"}')))
    with pytest.raises(InferenceFailed):
        delta_of(failed, SamplingOptions())
