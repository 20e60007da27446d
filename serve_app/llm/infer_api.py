"""S1's compatibility routes: `POST /infer` and `POST /infer/stream` with S1's schema and limits."""

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.common.generation import (
    ChatMessage,
    Choices,
    GenerationRequest,
    MaxTokens,
    SamplingOptions,
    StreamEvent,
    Temperature,
    TopP,
    UserText,
    within_completion_budget,
)
from serve_app.http.job_routes import RUNS_AS_JOB
from serve_app.http.sse import HEADERS, STREAMED, sse_stream
from serve_app.llm.service import SOURCE_HEADER, LLMService

router = APIRouter(tags=["s1"])


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: UserText = Field(min_length=1, max_length=4096)
    max_length: MaxTokens = Field(default=100, le=4096, description="most tokens to generate")
    temperature: Temperature = 0.7
    top_p: TopP = 1.0
    num_return_sequences: Choices = 1

    @model_validator(mode="after")
    def _within_budget(self) -> "InferRequest":
        within_completion_budget(self.num_return_sequences, self.max_length, "num_return_sequences x max_length")
        return self

    def generation(self) -> GenerationRequest:
        sampling = SamplingOptions(max_tokens=self.max_length, temperature=self.temperature, top_p=self.top_p,
                                   n=self.num_return_sequences)
        # The query is the user's turn of a chat. S1 cuts long input rather than refusing it, so the
        # context window is cut the same way.
        return GenerationRequest(messages=[ChatMessage(role="user", content=self.query)], sampling=sampling,
                                 truncate_prompt=True)


class InferResponse(BaseModel):
    generated_text: str
    # Every sequence when num_return_sequences > 1; generated_text is the first.
    generated_texts: list[str]


@router.post("/infer", response_model=InferResponse, openapi_extra=RUNS_AS_JOB)
async def infer(body: InferRequest, request: Request, response: Response) -> InferResponse:
    service: LLMService = request.app.state.llm
    completion = await service.complete(body.generation(), await service.generator(None))
    response.headers[SOURCE_HEADER] = completion.source
    return InferResponse(generated_text=completion.texts[0], generated_texts=completion.texts)


async def _texts(events: AsyncIterator[StreamEvent]) -> AsyncIterator[dict]:
    async for event in events:
        for delta in event.deltas:
            if delta.text:
                yield {"index": delta.index, "text": delta.text}


@router.post("/infer/stream", response_class=StreamingResponse,
             responses={200: {"description": "data: {index, text} events, then data: [DONE]", **STREAMED[200]}})
async def infer_stream(body: InferRequest, request: Request) -> StreamingResponse:
    """Server-sent events: `data: {"index", "text"}` per piece of text, then `data: [DONE]`."""
    service: LLMService = request.app.state.llm
    events = await service.stream(body.generation(), await service.generator(None))
    return StreamingResponse(sse_stream(_texts(events)), media_type="text/event-stream", headers=HEADERS)
