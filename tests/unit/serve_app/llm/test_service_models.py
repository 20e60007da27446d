"""LLMService routes OpenAI's `model` to the generator that serves it: a model still loading does not hold up the
others, and a name no generator serves is 404 only once every generator has said its id. Without Ray: fake
handles."""

import asyncio

import pytest

from serve_app.common.errors import ModelUnavailable, UnknownModel
from serve_app.common.model_metadata import ModelMetadata
from serve_app.llm.service import LLMService
from tests.unit.fakes import FakeHandle


def _model(name: str):
    async def describe():
        return ModelMetadata(name=name, versions=["1"], platform="vllm")
    return describe


async def _loading():
    await asyncio.sleep(3600)


def _handle(name: str, **methods) -> FakeHandle:
    handle = FakeHandle(**methods)
    handle.deployment_name = name
    return handle


def _service(smol_loading: bool) -> LLMService:
    smol = _handle("SmolLM2", describe=_loading if smol_loading else _model("smollm2-135m-instruct"))
    generators = {"LLMServer": _handle("LLMServer", describe=_model("tiny-llama")), "SmolLM2": smol}
    return LLMService(generators, _handle("Embedder", describe=_model("use-multilingual-v3")))


def test_each_model_id_routes_to_its_own_generator_and_none_to_the_first():
    service = _service(smol_loading=False)

    async def route():
        return [await service.generator(model) for model in ("smollm2-135m-instruct", "tiny-llama", None)]

    assert asyncio.run(route()) == ["SmolLM2", "LLMServer", "LLMServer"]
    assert [m.name for m in asyncio.run(service.describe())] == ["tiny-llama", "smollm2-135m-instruct",
                                                                 "use-multilingual-v3"]
    with pytest.raises(UnknownModel, match="gpt-4"):
        asyncio.run(service.generator("gpt-4"))
    with pytest.raises(UnknownModel):  # the embedder is no generator
        asyncio.run(service.generator("use-multilingual-v3"))


def test_a_model_still_loading_is_left_out_and_an_unknown_name_is_503_meanwhile(monkeypatch):
    monkeypatch.setattr("serve_app.llm.service.DESCRIBE_TIMEOUT_S", 0.05)
    service = _service(smol_loading=True)
    assert [m.name for m in asyncio.run(service.describe())] == ["tiny-llama", "use-multilingual-v3"]
    assert asyncio.run(service.generator("tiny-llama")) == "LLMServer"
    with pytest.raises(ModelUnavailable, match="still loading"):
        asyncio.run(service.generator("smollm2-135m-instruct"))
