"""The three graphs on real inputs through HTTP, against the deployed platform."""

import base64
import random

import pandas as pd
import pytest

from serve_app.artifacts import ArtifactLayout
from serve_app.common.shapes import SHAPE_LABELS, draw_shape, encode, shape_png
from serve_app.artifacts.ranking_metrics import ndcg_at_k

import numpy as np


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("label", SHAPE_LABELS)
def test_classify_names_the_drawn_shape(client, label):
    for seed in range(1000, 1005):
        response = client.post("/v1/graphs/classify", json={"image": b64(shape_png(label, seed))})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] == label
        assert 0.5 < body["score"] <= 1.0
        assert [entry["label"] for entry in body["top_k"]][0] == label
        assert len(body["top_k"]) == 3


def test_classify_accepts_a_larger_jpeg(client):
    image = draw_shape("circle", np.random.default_rng(7), size=160)
    response = client.post("/v1/graphs/classify", json={"image": b64(encode(image, "JPEG"))})
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "circle"


def test_classify_takes_the_image_as_it_is(client):
    """raw_body: the PNG's bytes as the body answer what its base64 in JSON answers."""
    image = shape_png("triangle", 1001)
    raw = client.post("/v1/graphs/classify", content=image, headers={"Content-Type": "image/png"})
    assert raw.status_code == 200, raw.text
    assert raw.json() == client.post("/v1/graphs/classify", json={"image": b64(image)}).json()


@pytest.mark.parametrize("graph, body, content_type, status, title", [
    ("classify", b"not an image", "image/png", 400, "invalid_image"),
    ("recommend", b"\x89PNG", "image/png", 415, "unsupported_media_type"),  # recommend takes no raw body
    ("classify", b"[1, 2]", "application/json", 422, "validation_failed"),
    ("classify", b"{", "application/json", 400, "malformed_json"),
])
def test_a_body_the_graph_cannot_take_is_refused(client, graph, body, content_type, status, title):
    response = client.post(f"/v1/graphs/{graph}", content=body, headers={"Content-Type": content_type})
    assert (response.status_code, response.json()["title"]) == (status, title), response.text


def test_recommendations_beat_random_on_heldout_interactions(client, artifacts_dir):
    layout = ArtifactLayout(root=artifacts_dir)
    heldout = pd.read_parquet(layout.ranker / "heldout.parquet")
    clicked = heldout[heldout["clicked"] == 1].groupby("user_id")["item_id"].apply(set)
    catalog = sorted(heldout["item_id"].unique())
    users = sorted(clicked.index)[:60]
    rng = random.Random(0)
    ours, chance = [], []
    for user_id in users:
        response = client.post("/v1/graphs/recommend", json={"user_id": int(user_id), "k": 10})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert len(items) == 10
        scores = [item["score"] for item in items]
        assert scores == sorted(scores, reverse=True)
        ours.append(ndcg_at_k([item["item_id"] for item in items], clicked[user_id], 10))
        chance.append(ndcg_at_k(rng.sample(catalog, 10), clicked[user_id], 10))
    assert np.mean(ours) > 1.5 * np.mean(chance), (np.mean(ours), np.mean(chance))


def test_unknown_user_gets_k_items(client):
    """A user the feature store has never seen is ranked on the population defaults, not refused."""
    response = client.post("/v1/graphs/recommend", json={"user_id": 987654321, "k": 7})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 7 and len({item["item_id"] for item in items}) == 7


def test_caption_is_text_about_the_label(client):
    response = client.post("/v1/graphs/caption", json={"image": b64(shape_png("triangle", 77))})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] == "triangle"
    assert len(body["caption"].split()) >= 3
    assert "triangle" in body["caption"].lower()
