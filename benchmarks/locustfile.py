"""Locust load for the classify and recommend graphs.

`.venv/bin/locust -f benchmarks/locustfile.py --host http://127.0.0.1:8000 --headless -u 32 -r 8 -t 60s`
"""

import base64
import random

from locust import FastHttpUser, between, task

from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import admin_headers

IMAGES = [(label, base64.b64encode(shape_png(label, seed)).decode())
          for seed in range(16) for label in SHAPE_LABELS]


class GraphUser(FastHttpUser):
    wait_time = between(0.0, 0.05)
    default_headers = admin_headers()

    @task(3)
    def classify(self) -> None:
        label, image = random.choice(IMAGES)
        with self.client.post("/v1/graphs/classify", json={"image": image}, catch_response=True) as response:
            if response.status_code == 200 and response.json()["label"] != label:
                response.failure(f"expected {label}, got {response.json()['label']}")

    @task(2)
    def recommend(self) -> None:
        self.client.post("/v1/graphs/recommend", json={"user_id": random.randint(1, 500), "k": 10})
