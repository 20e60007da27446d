"""Pydantic models of the OpenAI-compatible endpoints; a field the platform does not honour is refused."""

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.common.generation import (
    ChatMessage,
    Choices,
    MaxTokens,
    SamplingOptions,
    Stop,
    Temperature,
    Text,
    Texts,
    TopP,
    within_completion_budget,
)


class StreamOptions(BaseModel):
    include_usage: bool = False


class _GenerationParams(BaseModel):
    # Unknown parameters (tools, logprobs, ...) answer 400 naming the field instead of being ignored.
    model_config = ConfigDict(extra="forbid")

    model: Text
    max_tokens: MaxTokens | None = None
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    n: Choices = 1
    stop: Stop = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: Text | None = None  # the caller's end-user id, accepted as OpenAI does
    ignore_eos: bool = False  # vLLM's extension

    @model_validator(mode="after")
    def _within_budget(self) -> "_GenerationParams":
        within_completion_budget(self.n, *self._max_tokens())
        return self

    def _max_tokens(self) -> tuple[int | None, str]:
        """The tokens asked of each choice, and the field that asked."""
        return self.max_tokens, "n x max_tokens"

    def sampling(self, max_tokens: int | None = None) -> SamplingOptions:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingOptions(max_tokens=max_tokens or self.max_tokens, temperature=self.temperature,
                               top_p=self.top_p, n=self.n, stop=stop, seed=self.seed, ignore_eos=self.ignore_eos)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: MaxTokens | None = None  # newer clients' name for max_tokens

    def _max_tokens(self) -> tuple[int | None, str]:
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "n x max_completion_tokens"
        return super()._max_tokens()


class CompletionRequest(_GenerationParams):
    prompt: Texts = Field(min_length=1)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Text
    input: Texts = Field(min_length=1, max_length=256)
    # The official client asks for base64 unless told otherwise.
    encoding_format: Literal["float", "base64"] = "float"
    user: Text | None = None

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


class UsageInfo(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class ResponseHeader(BaseModel):
    id: str = Field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: str | None


class ChatCompletion(ResponseHeader):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]
    usage: UsageInfo


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    finish_reason: str | None = None


class ChatCompletionChunk(ResponseHeader):
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChatChunkChoice]
    usage: UsageInfo | None = None


class TextChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None = None


class TextCompletion(ResponseHeader):
    object: Literal["text_completion"] = "text_completion"
    choices: list[TextChoice]
    usage: UsageInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "serving-foundation"
    # The platform's addition: a content hash of the model's artifact, as its log lines carry it.
    version: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: UsageInfo
