"""What the ingress asks of LLMServer and what comes back: the one vocabulary both sides of the
handle speak, whatever HTTP dialect (OpenAI, S1 /infer) the request arrived in."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# The sampling bounds, one home for every dialect (OpenAI, S1 /infer, graphs): a request the edge
# accepts is one SamplingOptions accepts too.
MaxTokens = Annotated[int, Field(ge=1)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
Choices = Annotated[int, Field(ge=1, le=8)]


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must contain text, not only whitespace")
    return text


# A user's text for the model (S1's query, S0's prompt): blank text is refused, not generated from.
UserText = Annotated[str, AfterValidator(_not_blank)]


def caption_prompt(label: str) -> str:
    """The exact prompt the caption lines were trained on; the model continues with a sentence."""
    return f"Caption for a {label}:"


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


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
        """The input as one string: what the semantic cache embeds and the log line excerpts."""
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
