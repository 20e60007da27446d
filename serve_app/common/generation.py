"""What the ingress asks of LLMServer and what comes back: the one vocabulary both sides of the
handle speak, whatever HTTP dialect (OpenAI, S1 /infer) the request arrived in."""

import json
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from serve_app.common.input_limits import input_limits

# The sampling bounds, one home for every dialect (OpenAI, S1 /infer, graphs): a request the edge
# accepts is one SamplingOptions accepts too.
MaxTokens = Annotated[int, Field(ge=1)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
Choices = Annotated[int, Field(ge=1, le=8)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
# The most likely alternatives reported with each generated token's log-probability.
TopLogprobs = Annotated[int, Field(ge=0, le=20)]


# JSON may carry a lone surrogate ("\ud800"), which is no character: the tokenizer, a log line or the
# response could not encode it, so it is refused where it comes in rather than failing (500) later.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """`text` as it is; ValueError when it holds a lone surrogate."""
    if _SURROGATE.search(text):
        raise ValueError("must be valid Unicode text (it contains a lone surrogate)")
    return text


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must contain text, not only whitespace")
    return text


# Any client text that reaches a model, a log line or a response (messages, prompts, names).
Text = Annotated[str, AfterValidator(valid_unicode)]
# A user's text for the model (S1's query, S0's prompt): blank text is refused, not generated from.
UserText = Annotated[Text, AfterValidator(_not_blank)]


def _each_valid_unicode(texts: str | list[str]) -> str | list[str]:
    for text in [texts] if isinstance(texts, str) else texts:
        valid_unicode(text)
    return texts


# OpenAI's one text or list of texts (a prompt, an embedding's input); checked as a whole so an error
# names the field, not a member of the union.
Texts = Annotated[str | list[str], AfterValidator(_each_valid_unicode)]


def _stop_within_limits(stop: str | list[str] | None) -> str | list[str] | None:
    # Read per request: the limits change live. An empty stop string is refused by the engine (500).
    limits = input_limits()
    stops = [stop] if isinstance(stop, str) else stop or []
    if len(stops) > limits.stop_sequences:
        raise ValueError(f"at most {limits.stop_sequences} stop sequences, not {len(stops)}")
    if not all(1 <= len(text) <= limits.stop_chars for text in stops):
        raise ValueError(f"each stop sequence must be 1 to {limits.stop_chars} characters")
    _each_valid_unicode(stops)
    return stop


# OpenAI's `stop`: one string or a list, each checked against input_limits().
Stop = Annotated[str | list[str] | None, AfterValidator(_stop_within_limits)]


def _within_structured_output_limit(spec):
    # Read per request: the limits change live. Measured as JSON, the way it reaches the engine's grammar compiler.
    size = len(json.dumps(spec, ensure_ascii=False).encode())
    limit = input_limits().structured_output_bytes
    if size > limit:
        raise ValueError(f"is {size} bytes as JSON; at most {limit} may constrain an output")
    return spec


def _json_schema_text(text: str) -> str:
    schema = json.loads(text)
    if not isinstance(schema, dict):
        raise ValueError("must be a JSON schema, which is a JSON object")
    _within_structured_output_limit(schema)
    return text


# What may constrain an output, each within input_limits().structured_output_bytes: a JSON schema (an object;
# the engine refuses one it cannot compile), a regular expression, the texts to choose from.
JsonSchema = Annotated[dict, AfterValidator(_within_structured_output_limit)]
OutputPattern = Annotated[Text, AfterValidator(_within_structured_output_limit)]
OutputChoices = Annotated[tuple[Text, ...], Field(min_length=1), AfterValidator(_within_structured_output_limit)]


def within_completion_budget(choices: int, max_tokens: int | None, names: str) -> None:
    """Refuse (ValueError naming `names`) a request whose choices x max_tokens is over
    input_limits().completion_tokens. Without max_tokens the context window bounds each choice."""
    budget = input_limits().completion_tokens
    if max_tokens is not None and choices * max_tokens > budget:
        raise ValueError(f"{names} is {choices} x {max_tokens} = {choices * max_tokens} tokens; "
                         f"at most {budget} may be generated per request")


def caption_prompt(label: str) -> str:
    """The exact prompt the caption lines were trained on; the model continues with a sentence."""
    return f"Caption for a {label}:"


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: Text


class StructuredOutput(BaseModel):
    """What the generated text must be: one of `choice`, JSON valid for `json_schema`, any JSON object
    (`json_object`), or a match of `regex`. The engine constrains each token to keep it so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    choice: OutputChoices | None = None
    # The schema as JSON text, not a dict: SamplingOptions stays hashable (the semantic cache's key). The model
    # writes the properties in the text's order, so json.dumps(schema, sort_keys=True) has them alphabetical.
    json_schema: Annotated[str, AfterValidator(_json_schema_text)] | None = None
    json_object: bool = False
    regex: OutputPattern | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "StructuredOutput":
        if [self.choice is not None, self.json_schema is not None, self.json_object, self.regex is not None] \
                .count(True) != 1:
            raise ValueError("give exactly one of choice, json_schema, json_object and regex")
        return self


class SamplingOptions(BaseModel):
    """The sampling parameters the platform honours; anything else is refused, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: as many as the context window leaves after the prompt.
    max_tokens: MaxTokens | None = None
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    n: Choices = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: Penalty = 0.0
    frequency_penalty: Penalty = 0.0
    # Each generated token's log-probability, with this many most likely alternatives; None: none.
    logprobs: TopLogprobs | None = None
    structured: StructuredOutput | None = None
    # vLLM's extension, used by benchmarks so every system generates the same number of tokens.
    ignore_eos: bool = False


def chat_ids(tokenizer, messages: list[dict]) -> list[int]:
    """A chat's token ids as the LLM reads them (a Hugging Face tokenizer): its chat template, ending in the cue
    for the answer."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer.encode(text, add_special_tokens=False)  # the template writes the BOS


def fit_prompt(ids: list[int], window: int, answer_tokens: int) -> list[int]:
    """A prompt's token ids cut to leave `answer_tokens` of the `window`: the end kept, since it holds the chat
    template's cue for the answer and a task's instruction. The artifact builder trains on prompts cut this way."""
    return ids[max(0, len(ids) - (window - answer_tokens)):]


class GenerationRequest(BaseModel):
    """A prompt (plain text) or chat messages (rendered with the model's chat template), preprocessed."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    sampling: SamplingOptions = SamplingOptions()
    # S1's /infer cuts an over-long prompt to fit the context window instead of refusing it.
    truncate_prompt: bool = False

    @model_validator(mode="after")
    def _one_input(self) -> "GenerationRequest":
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt and messages")
        return self

    def text(self) -> str:
        """The input as one string: what the log line excerpts."""
        if self.prompt is not None:
            return self.prompt
        return "\n".join(f"{message.role}: {message.content}" for message in self.messages)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class TopLogprob(BaseModel):
    """A token and its log-probability at one place of the output; `bytes` is the token's UTF-8."""

    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(TopLogprob):
    """A generated token's log-probability, with the most likely tokens at its place (SamplingOptions.logprobs)."""

    top_logprobs: list[TopLogprob] = []


class Delta(BaseModel):
    """New text of one of the `n` choices since the last event. finish_reason is the engine's: stop, length, or
    repetition (the repetition guard ended a loop)."""

    index: int
    text: str
    finish_reason: str | None = None
    # The new tokens' log-probabilities, when SamplingOptions.logprobs asked for them.
    logprobs: list[TokenLogprob] | None = None


class StreamEvent(BaseModel):
    """One step of a streamed generation; the last event carries the usage."""

    deltas: list[Delta] = []
    usage: Usage | None = None


class Completion(BaseModel):
    texts: list[str]
    finish_reasons: list[str]
    usage: Usage
    # Every choice's tokens' log-probabilities, when SamplingOptions.logprobs asked for them.
    logprobs: list[list[TokenLogprob]] | None = None
    # How the answer was made: by the engine, from the semantic cache, or the configured fallback.
    source: Literal["engine", "cache", "fallback"] = "engine"


def without_repeated_tail(text: str, longest_pattern: int = 512) -> str:
    """`text` with the loop it ends in cut to one copy ("seafood try try try" -> "seafood try"): what is left of a
    generation the repetition guard ended. The loop is the pattern (up to `longest_pattern` characters) whose
    repeats cover the most of the end."""
    longest_cut = 0
    for size in range(1, min(longest_pattern, len(text) // 2) + 1):
        pattern, copies = text[-size:], 1
        while text.endswith(pattern, 0, len(text) - copies * size):
            copies += 1
        longest_cut = max(longest_cut, (copies - 1) * size)
    return text[:len(text) - longest_cut]
