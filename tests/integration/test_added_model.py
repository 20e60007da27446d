"""A model added by one deployment file (tests/integration/added_model/) and one config entry (the test
platform's, testkit/config.py): the builder binds it, V2 serves it, a declared graph calls it and readiness covers it."""

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from tests.integration.triton_auth import BearerAuth


@pytest.fixture(scope="module")
def added(platform):
    """The test platform binds TextStats and `text_length` (testkit/config.py ADDED_MODELS, ADDED_GRAPHS)."""
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
        yield http


def test_the_added_model_answers_over_v2(added, platform):
    with triton.InferenceServerClient(platform.base_url.removeprefix("http://")) as client:
        client.register_plugin(BearerAuth(platform.api_key))
        metadata = client.get_model_metadata("text_stats")
        assert (metadata["versions"], metadata["platform"]) == (["2026-11"], "python")
        assert client.is_model_ready("text_stats")
        text = triton.InferInput("TEXT", [2], "BYTES").set_data_from_numpy(np.array([b"abc", "안녕".encode()], object))
        assert client.infer("text_stats", [text]).as_numpy("LENGTH").tolist() == [3, 2]


def test_a_declared_graph_calls_the_added_model(added):
    assert added.post("/v1/graphs/text_length", json={"text": "hello"}).json() == {"length": 5}
    refused = added.post("/v1/graphs/text_length", json={"text": "x" * 1001})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "text"


def test_readiness_and_the_openapi_document_include_it(added):
    assert added.get("/health/ready").json()["deployments"]["TextStats"] == "HEALTHY"
    body = added.get("/openapi.json").json()["paths"]["/v1/graphs/text_length"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["properties"]["text"]["maxLength"] == 1000
