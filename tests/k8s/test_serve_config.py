"""serveConfigV2 of the manifests is serve_config.yaml as k8s/render_serve_config.py renders it (run
`make k8s` after editing serve_config.yaml), and a config Serve accepts. No Ray cluster needed."""

import importlib.util

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from testkit.config import base_config, deployment_entry
from tests.k8s.conftest import K8S

spec = importlib.util.spec_from_file_location("render_serve_config", K8S / "render_serve_config.py")
render_serve_config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_serve_config)


def _serve_config(manifest) -> dict:
    (document,) = yaml.safe_load_all(manifest.read_text())
    return yaml.safe_load(document["spec"]["serveConfigV2"])


@pytest.mark.parametrize("manifest, variant", render_serve_config.MANIFESTS.items(), ids=lambda v: str(v)[-25:])
def test_the_committed_manifest_is_what_serve_config_yaml_renders(manifest, variant):
    committed = manifest.read_text()
    assert render_serve_config.splice(committed, render_serve_config.render(variant)) == committed, \
        f"{manifest.name} is stale: run `make k8s`"


@pytest.mark.parametrize("manifest", render_serve_config.MANIFESTS, ids=lambda path: path.name)
def test_serve_accepts_the_rendered_config(manifest):
    config = ServeDeploySchema.model_validate(_serve_config(manifest))
    assert config.http_options.host == "0.0.0.0"


def test_the_job_autoscaler_finds_queue_and_redis_in_the_settings():
    """Written once, in the job settings (PLATFORM_JOBS_QUEUE_NAME, PLATFORM_REDIS_URL), never in a config."""
    for config in (base_config(), _serve_config(K8S / "base" / "ray-service.platform.yaml")):
        consumer = deployment_entry(config, "JobConsumer")
        assert not {"broker_url", "queue_name"} & set(consumer["autoscaling_config"]["policy"]["policy_kwargs"])


def test_the_gpu_variant_puts_dali_vision_and_every_llm_on_gpus():
    config = _serve_config(K8S / "gpu" / "ray-service.gpu.yaml")
    deployments = {d["name"]: d for d in config["applications"][0]["deployments"]}
    assert deployments["Ingress"]["ray_actor_options"]["num_gpus"] > 0  # hosts DaliPreprocessor
    assert "num_gpus" not in deployments["Embedder"]["ray_actor_options"]
    args = config["applications"][0]["args"]
    assert args["llm"]["generators"] == ["LLMServer", "SmolLM2"]
    for name in args["llm"]["generators"]:
        assert deployments[name]["ray_actor_options"]["num_gpus"] == 1
        engine_args = args["models"][name]["init_args"]["engine_args"]
        assert engine_args["gpu_memory_utilization"] == 0.9 and engine_args["kv_cache_memory_bytes"] is None


def test_splice_replaces_only_the_block():
    manifest = "a: 1\nspec:\n  serveConfigV2: |\n    old: 1\n\n    older: 2\n  next: 3\n"
    spliced = render_serve_config.splice(manifest, "new: 1\n")
    assert spliced == "a: 1\nspec:\n  serveConfigV2: |\n    new: 1\n  next: 3\n"
