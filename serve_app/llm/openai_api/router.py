"""Routes of the OpenAI-compatible API; the logic lives in LLMService and serving.py."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from serve_app.common.errors import InvalidRequest
from serve_app.common.generation import GenerationRequest
from serve_app.http.job_routes import RUNS_AS_JOB
from serve_app.http.problems import OPENAI_TAG
from serve_app.http.sse import HEADERS as SSE_HEADERS
from serve_app.http.sse import STREAMED
from serve_app.llm.openai_api.protocol import (
    ChatCompletion,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    ModelCard,
    ModelList,
    TextCompletion,
)
from serve_app.llm.openai_api.serving import chat_completion, chat_stream, embedding_list, text_completion, text_stream
from serve_app.llm.service import SOURCE_HEADER, LLMService

router = APIRouter(tags=[OPENAI_TAG])


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    """Every model started so far: the generators in the config's order, then the embedder."""
    service: LLMService = request.app.state.llm
    return ModelList(data=[ModelCard(id=model.name, version=model.versions[0]) for model in await service.describe()])


async def _generate(request: Request, response: Response, body: ChatCompletionRequest | CompletionRequest,
                    generation: GenerationRequest, as_stream, as_whole):
    """Stream (SSE) or answer whole, as the body asks; `as_stream`/`as_whole` give the response shape."""
    service: LLMService = request.app.state.llm
    generator = await service.generator(body.model)
    if body.stream:
        events = await service.stream(generation, generator)
        return StreamingResponse(as_stream(body.model, events, body.include_usage),
                                 media_type="text/event-stream", headers=SSE_HEADERS)
    completion = await service.complete(generation, generator)
    response.headers[SOURCE_HEADER] = completion.source
    return as_whole(body.model, completion)


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=STREAMED, openapi_extra=RUNS_AS_JOB)
async def create_chat_completion(body: ChatCompletionRequest, request: Request, response: Response):
    generation = GenerationRequest(messages=body.messages, sampling=body.sampling(body.max_completion_tokens))
    return await _generate(request, response, body, generation, chat_stream, chat_completion)


@router.post("/v1/completions", response_model=TextCompletion, responses=STREAMED, openapi_extra=RUNS_AS_JOB)
async def create_completion(body: CompletionRequest, request: Request, response: Response):
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise InvalidRequest("send one prompt per request; batched prompts are not supported")
    generation = GenerationRequest(prompt=prompts[0], sampling=body.sampling())
    return await _generate(request, response, body, generation, text_stream, text_completion)


@router.post("/v1/embeddings", response_model=EmbeddingList, openapi_extra=RUNS_AS_JOB)
async def create_embeddings(body: EmbeddingRequest, request: Request) -> EmbeddingList:
    embedder = await request.app.state.llm.embedder_for(body.model)
    result = await embedder.embed.remote(body.texts())
    return embedding_list(body.model, result, body.encoding_format)
