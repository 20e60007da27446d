"""What the ingress asks of LLMServer and what comes back: the one vocabulary both sides of the
handle speak, whatever HTTP dialect (OpenAI, S1 /infer) the request arrived in."""

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


class Delta(BaseModel):
    """New text of one of the `n` choices since the last event."""

    index: int
    text: str
    finish_reason: str | None = None


class StreamEvent(BaseModel):
    """One step of a streamed generation; the last event carries the usage."""

    deltas: list[Delta] = []
    usage: Usage | None = None


class Completion(BaseModel):
    texts: list[str]
    finish_reasons: list[str]
    usage: Usage
    # How the answer was made: by the engine, from the semantic cache, or the configured fallback.
    source: Literal["engine", "cache", "fallback"] = "engine"
