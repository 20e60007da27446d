"""Pydantic models of the OpenAI-compatible endpoints; a field the platform does not honour is refused."""

import json
import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from serve_app.common.generation import (
    ChatMessage,
    Choices,
    JsonSchema,
    MaxTokens,
    OutputChoices,
    OutputPattern,
    Penalty,
    SamplingOptions,
    Stop,
    StructuredOutput,
    Temperature,
    Text,
    Texts,
    TokenLogprob,
    TopLogprobs,
    TopP,
    within_completion_budget,
)


class StreamOptions(BaseModel):
    include_usage: bool = False


def _schema_output(schema: dict) -> StructuredOutput:
    # Unsorted: the model writes the properties in the client's order (reasoning before the answer, say).
    return StructuredOutput(json_schema=json.dumps(schema))


def _parsed(schema: dict | str) -> dict | str:
    # vLLM's clients send a schema as an object or as its JSON text.
    if isinstance(schema, str):
        try:
            return json.loads(schema)
        except ValueError:
            raise ValueError("must be a JSON schema: an object, or its JSON text") from None
    return schema


# vLLM's `structured_outputs.json` and `guided_json`.
JsonSchemaOrText = Annotated[JsonSchema, BeforeValidator(_parsed)]


class JsonSchemaFormat(BaseModel):
    """OpenAI's response_format.json_schema. The output always follows the schema, strict or not: the engine
    constrains every token."""

    model_config = ConfigDict(extra="forbid")

    # Not held to OpenAI's [A-Za-z0-9_-]{1,64}: the client names it after the pydantic class ("Page[Item]").
    name: Text = Field(min_length=1, max_length=256)
    # Aliased: `schema` is a name BaseModel uses.
    schema_: JsonSchema = Field(alias="schema")
    strict: bool | None = None
    description: Text | None = None


class ResponseFormat(BaseModel):
    """OpenAI's response_format: plain text, any JSON object, or JSON valid for a schema."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> "ResponseFormat":
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema comes with type json_schema, and only with it")
        return self

    def structured_output(self) -> StructuredOutput | None:
        if self.type == "json_object":
            return StructuredOutput(json_object=True)
        return _schema_output(self.json_schema.schema_) if self.type == "json_schema" else None


class StructuredOutputs(BaseModel):
    """vLLM's `structured_outputs`: exactly one constraint (its `grammar` and the rest are refused)."""

    model_config = ConfigDict(extra="forbid")

    choice: OutputChoices | None = None
    # Aliased: `json` is a name BaseModel uses.
    json_: JsonSchemaOrText | None = Field(default=None, alias="json")
    regex: OutputPattern | None = None
    json_object: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> "StructuredOutputs":
        if [self.choice is not None, self.json_ is not None, self.regex is not None, self.json_object].count(True) != 1:
            raise ValueError("give exactly one of choice, json, regex and json_object")
        return self

    def structured_output(self) -> StructuredOutput:
        if self.json_ is not None:
            return _schema_output(self.json_)
        return StructuredOutput(choice=self.choice, regex=self.regex, json_object=self.json_object)


class _GenerationParams(BaseModel):
    # Unknown parameters (tools, logit_bias, ...) answer 400 naming the field instead of being ignored.
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
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    response_format: ResponseFormat | None = None
    # vLLM's extensions: ignore_eos, structured_outputs, and its older guided_* names for the latter's fields.
    ignore_eos: bool = False
    structured_outputs: StructuredOutputs | None = None
    guided_choice: OutputChoices | None = None
    guided_json: JsonSchemaOrText | None = None
    guided_regex: OutputPattern | None = None

    @model_validator(mode="after")
    def _within_budget(self) -> "_GenerationParams":
        within_completion_budget(self.n, *self._max_tokens())
        return self

    @model_validator(mode="after")
    def _one_output_constraint(self) -> "_GenerationParams":
        given = [name for name in ("structured_outputs", "guided_choice", "guided_json", "guided_regex")
                 if getattr(self, name) is not None]
        if self.response_format is not None and self.response_format.type != "text":
            given.insert(0, "response_format")
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} each constrain the output; give one of them")
        return self

    def _structured_output(self) -> StructuredOutput | None:
        """The one constraint asked for (_one_output_constraint saw to that), if any."""
        if self.structured_outputs is not None:
            return self.structured_outputs.structured_output()
        if self.guided_json is not None:
            return _schema_output(self.guided_json)
        if self.guided_choice is not None or self.guided_regex is not None:
            return StructuredOutput(choice=self.guided_choice, regex=self.guided_regex)
        return None if self.response_format is None else self.response_format.structured_output()

    def _max_tokens(self) -> tuple[int | None, str]:
        """The tokens asked of each choice, and the field that asked."""
        return self.max_tokens, "n x max_tokens"

    def sampling(self, max_tokens: int | None = None) -> SamplingOptions:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingOptions(max_tokens=max_tokens or self.max_tokens, temperature=self.temperature,
                               top_p=self.top_p, n=self.n, stop=stop, seed=self.seed,
                               presence_penalty=self.presence_penalty or 0.0,
                               frequency_penalty=self.frequency_penalty or 0.0, logprobs=self._logprobs(),
                               structured=self._structured_output(), ignore_eos=self.ignore_eos)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: MaxTokens | None = None  # newer clients' name for max_tokens
    logprobs: bool | None = None
    top_logprobs: TopLogprobs | None = None

    @field_validator("top_logprobs")
    @classmethod
    def _with_logprobs(cls, top_logprobs: int | None, fields: ValidationInfo) -> int | None:
        if top_logprobs is not None and not fields.data.get("logprobs"):
            raise ValueError("needs logprobs: true")
        return top_logprobs

    def _max_tokens(self) -> tuple[int | None, str]:
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "n x max_completion_tokens"
        return super()._max_tokens()

    def _logprobs(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_GenerationParams):
    prompt: Texts = Field(min_length=1)
    # The legacy API's number of alternatives per token, at most 5 as OpenAI allows.
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = None

    def _logprobs(self) -> int | None:
        return self.logprobs


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


class ChatLogprobs(BaseModel):
    content: list[TokenLogprob]


class TextLogprobs(BaseModel):
    """The legacy completions' shape: per token its text, log-probability, alternatives and offset in the text."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class ChatChoice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: str | None
    logprobs: ChatLogprobs | None = None


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
    logprobs: ChatLogprobs | None = None


class ChatCompletionChunk(ResponseHeader):
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChatChunkChoice]
    usage: UsageInfo | None = None


class TextChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: TextLogprobs | None = None


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
