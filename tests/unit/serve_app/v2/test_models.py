"""The V2 model repository over fake handles: models as the deployments describe them, declared graphs
with their tensor mapping, and the input checks."""

import asyncio
import json

import numpy as np
import pytest

from graphs.runner import GraphRunner
from serve_app.app import serve_config_args
from serve_app.common.errors import InvalidTensor, ModelUnavailable, UnknownModel
from serve_app.common.model_metadata import ModelMetadata, TensorMetadata
from serve_app.v2.models import ModelRepository
from tests.unit.fakes import FakeHandle

MATRIX = np.arange(10, dtype=np.float32).reshape(2, 5) / 7
RANKER = ModelMetadata(name="ranker", versions=["abc"], platform="lightgbm",
                       inputs=[TensorMetadata(name="FEATURES", datatype="FP32", shape=[-1, 5])],
                       outputs=[TensorMetadata(name="SCORE", datatype="FP32", shape=[-1])])
LLM = ModelMetadata(name="tiny-llama", versions=["def"], platform="vllm")


async def _ranked(user_id: int, k: int) -> list[dict]:
    return [{"item_id": user_id * 100 + i, "score": 1 - i / 10} for i in range(min(k, 3 + user_id))]


def _repository(**extra_handles) -> ModelRepository:
    async def infer(inputs):
        return {"SCORE": inputs["FEATURES"].sum(axis=1)}

    async def features(user_id):
        return user_id

    handles = {"Ranker": FakeHandle(describe=_answer(RANKER), infer=infer, rank=_ranked),
               "LLMServer": FakeHandle(describe=_answer(LLM)), "FeatureLookup": FakeHandle(lookup=features),
               **extra_handles}
    # The declared graphs of serve_config.yaml; only `recommend` is run here.
    return ModelRepository(handles, GraphRunner(serve_config_args().graphs, handles, "redis://127.0.0.1:6379/15"))


def _answer(value):
    async def call():
        return value
    return call


def test_a_model_is_what_its_deployment_describes_and_runs_on_its_infer():
    async def scenario():
        repository = _repository(FeatureLookup=FakeHandle(describe=_answer(
            ModelMetadata(name="features", versions=["x"], platform="feast"))))
        ranker = await repository.find("ranker")
        assert ranker.metadata == RANKER and ranker.deployments == ("Ranker",)
        np.testing.assert_allclose((await ranker.run({"FEATURES": MATRIX}))["SCORE"], MATRIX.sum(axis=1))
        with pytest.raises(UnknownModel, match="'tiny-llama'"):  # described, but it has no tensors
            await repository.find("tiny-llama")
    asyncio.run(scenario())


def test_a_deployment_that_does_not_describe_itself_makes_a_lookup_unavailable_not_unknown():
    async def scenario():
        repository = _repository()  # FeatureLookup here has no describe()
        with pytest.raises(ModelUnavailable, match="FeatureLookup"):
            await repository.find("nonesuch")
    asyncio.run(scenario())


@pytest.mark.parametrize(("inputs", "message"), [
    ({"FEATURES": MATRIX[:, :4]}, r"shape \[2, 4\], expected \[-1, 5\]"),
    ({"FEATURES": MATRIX.astype(np.float64)}, "is FP64, expected FP32"),
    ({"FEATURES": np.zeros((65, 5), np.float32)}, "batch size 65"),
    ({"FEATURES": np.zeros((0, 5), np.float32)}, "batch size 0"),
    ({"ROWS": MATRIX}, r"unknown \['ROWS'\], missing \['FEATURES'\]"),
])
def test_inputs_must_fit_the_model(inputs, message):
    ranker = asyncio.run(_repository().find("ranker"))
    with pytest.raises(InvalidTensor, match=message):
        ranker.check(inputs)


def test_a_typed_graph_maps_rows_to_bodies_and_answers_to_tensors():
    async def scenario():
        recommend = await _repository().find("recommend")
        assert [(t.name, t.shape) for t in recommend.metadata.inputs] == [("USER_ID", [-1]), ("K", [1])]
        assert recommend.deployments == ("FeatureLookup", "Ranker")
        recommend.check({"USER_ID": np.array([1, 2], np.int64)})  # K is optional
        with pytest.raises(InvalidTensor, match=r"shape \[2\], expected \[1\]"):
            recommend.check({"USER_ID": np.array([1]), "K": np.array([5, 6], np.int32)})
        outputs = await recommend.run({"USER_ID": np.array([1, 2], np.int64), "K": np.array([5], np.int32)})
        # User 1 has 4 items, user 2 has 5: rows are cut to the shorter list.
        np.testing.assert_array_equal(outputs["ITEM_IDS"], [[100, 101, 102, 103], [200, 201, 202, 203]])
        assert outputs["SCORES"].dtype == np.float32 and outputs["SCORES"].shape == (2, 4)
        with pytest.raises(InvalidTensor, match="user_id: Input should be greater than or equal to 0"):
            await recommend.run({"USER_ID": np.array([1, -1], np.int64)})
    asyncio.run(scenario())


def test_an_untyped_graph_takes_and_answers_one_json_document_per_row():
    async def scenario():
        explain = await _repository().find("recommend_explain")
        assert [(t.name, t.datatype) for t in explain.metadata.inputs + explain.metadata.outputs] == [
            ("INPUT", "BYTES"), ("OUTPUT", "BYTES")]
        assert explain.metadata.platform == "ensemble" and len(explain.metadata.versions[0]) == 12
        with pytest.raises(InvalidTensor, match="JSON document"):
            await explain.run({"INPUT": np.array([b"{not json"], dtype=object)})
        with pytest.raises(InvalidTensor, match="user_id: Field required"):
            await explain.run({"INPUT": np.array([json.dumps({}).encode()], dtype=object)})
    asyncio.run(scenario())
