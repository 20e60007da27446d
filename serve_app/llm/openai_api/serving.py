"""Completions in OpenAI's response shapes: whole responses, and SSE streams ending in `data: [DONE]`."""

import base64
from collections.abc import AsyncIterator, Callable

import numpy as np
from pydantic import BaseModel

from serve_app.common.generation import ChatMessage, Completion, Delta, StreamEvent, TokenLogprob, Usage
from serve_app.http.sse import sse_stream
from serve_app.llm.openai_api.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatDelta,
    ChatLogprobs,
    Embedding,
    EmbeddingList,
    ResponseHeader,
    TextChoice,
    TextCompletion,
    TextLogprobs,
    UsageInfo,
)


def usage_info(usage: Usage) -> UsageInfo:
    return UsageInfo(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                     total_tokens=usage.total_tokens)


def finish_reason(reason: str | None) -> str | None:
    """The engine's reason as OpenAI's clients know them: a loop the repetition guard cut ended like a stop."""
    return "stop" if reason == "repetition" else reason


def chat_logprobs(tokens: list[TokenLogprob] | None) -> ChatLogprobs | None:
    return None if tokens is None else ChatLogprobs(content=tokens)


def text_logprobs(tokens: list[TokenLogprob] | None, offset: int = 0) -> TextLogprobs | None:
    """The legacy shape of `tokens`, the first at character `offset` of the choice's text."""
    if tokens is None:
        return None
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token.token)
    return TextLogprobs(tokens=[token.token for token in tokens], token_logprobs=[token.logprob for token in tokens],
                        top_logprobs=[{top.token: top.logprob for top in token.top_logprobs} for token in tokens],
                        text_offset=offsets)


def _choice_logprobs(completion: Completion, index: int) -> list[TokenLogprob] | None:
    return None if completion.logprobs is None else completion.logprobs[index]


def chat_completion(model: str, completion: Completion) -> ChatCompletion:
    choices = [ChatChoice(index=i, message=ChatMessage(role="assistant", content=text),
                          finish_reason=finish_reason(reason), logprobs=chat_logprobs(_choice_logprobs(completion, i)))
               for i, (text, reason) in enumerate(zip(completion.texts, completion.finish_reasons))]
    return ChatCompletion(model=model, choices=choices, usage=usage_info(completion.usage))


def text_completion(model: str, completion: Completion) -> TextCompletion:
    choices = [TextChoice(index=i, text=text, finish_reason=finish_reason(reason),
                          logprobs=text_logprobs(_choice_logprobs(completion, i)))
               for i, (text, reason) in enumerate(zip(completion.texts, completion.finish_reasons))]
    return TextCompletion(model=model, choices=choices, usage=usage_info(completion.usage))


def embedding_list(model: str, result: dict, encoding_format: str) -> EmbeddingList:
    def encode(vector: list[float]) -> list[float] | str:
        # base64 of little-endian float32, as OpenAI sends it and its client decodes it.
        return vector if encoding_format == "float" else base64.b64encode(
            np.asarray(vector, dtype="<f4").tobytes()).decode()

    data = [Embedding(index=i, embedding=encode(vector)) for i, vector in enumerate(result["embeddings"])]
    tokens = result["prompt_tokens"]
    return EmbeddingList(data=data, model=model, usage=UsageInfo(prompt_tokens=tokens, total_tokens=tokens))


async def _chunks(events: AsyncIterator[StreamEvent], chunk_of: Callable[[list[Delta]], BaseModel],
                  usage_chunk: Callable[[Usage], BaseModel] | None) -> AsyncIterator[BaseModel]:
    async for event in events:
        if event.deltas:
            yield chunk_of(event.deltas)
        if event.usage is not None and usage_chunk is not None:
            yield usage_chunk(event.usage)


def chat_stream(model: str, events: AsyncIterator[StreamEvent], include_usage: bool) -> AsyncIterator[str]:
    header = ResponseHeader(model=model).model_dump()
    started: set[int] = set()

    def chunk_of(deltas: list[Delta]) -> ChatCompletionChunk:
        choices = []
        for delta in deltas:
            role = None if delta.index in started else "assistant"
            started.add(delta.index)
            choices.append(ChatChunkChoice(index=delta.index, delta=ChatDelta(role=role, content=delta.text),
                                           finish_reason=finish_reason(delta.finish_reason),
                                           logprobs=chat_logprobs(delta.logprobs)))
        return ChatCompletionChunk(**header, choices=choices)

    usage_chunk = (lambda usage: ChatCompletionChunk(**header, choices=[], usage=usage_info(usage))) \
        if include_usage else None
    return sse_stream(_chunks(events, chunk_of, usage_chunk))


def text_stream(model: str, events: AsyncIterator[StreamEvent], include_usage: bool) -> AsyncIterator[str]:
    header = ResponseHeader(model=model).model_dump()
    streamed: dict[int, int] = {}  # characters of each choice so far: where its next tokens' offsets start

    def choice_of(delta: Delta) -> TextChoice:
        offset = streamed.get(delta.index, 0)
        streamed[delta.index] = offset + len(delta.text)
        return TextChoice(index=delta.index, text=delta.text, finish_reason=finish_reason(delta.finish_reason),
                          logprobs=text_logprobs(delta.logprobs, offset))

    def chunk_of(deltas: list[Delta]) -> TextCompletion:
        return TextCompletion(**header, choices=[choice_of(delta) for delta in deltas])

    usage_chunk = (lambda usage: TextCompletion(**header, choices=[], usage=usage_info(usage))) \
        if include_usage else None
    return sse_stream(_chunks(events, chunk_of, usage_chunk))
