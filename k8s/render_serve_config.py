"""`python k8s/render_serve_config.py [--check]`: write serveConfigV2 of the RayService manifests from
serve_config.yaml, the one source of the platform's knobs, with the changes a Kubernetes cluster needs.
--check writes nothing and exits 1 when a committed manifest differs from what this renders."""

import argparse
import re
import sys
from pathlib import Path

import yaml

from serve_app.cluster.settings import for_cluster

K8S = Path(__file__).resolve().parent
SERVE_CONFIG = K8S.parent / "serve_config.yaml"
# Each manifest holding a `serveConfigV2: |` block, and the variant of the config it gets.
MANIFESTS = {K8S / "base" / "ray-service.platform.yaml": "cpu", K8S / "gpu" / "ray-service.gpu.yaml": "gpu"}
HEADER = "# Written by `make k8s` (k8s/render_serve_config.py): edit serve_config.yaml, not this block.\n"


def _deployment(config: dict, name: str) -> dict:
    (found,) = [d for d in config["applications"][0]["deployments"] if d["name"] == name]
    return found


def for_gpu_cluster(config: dict) -> dict:
    """The cluster's config on GPU workers: the Ingress (hosting DALI and the vision model) and the LLMs
    take GPUs; the rest stays on CPU workers."""
    config = for_cluster(config)
    models = config["applications"][0]["args"]["models"]
    # A visible GPU is the switch: DALI then decodes with its `mixed` decoder, ONNX Runtime takes CUDA.
    # A quarter of one lets four Ingress replicas share a GPU.
    _deployment(config, "Ingress")["ray_actor_options"]["num_gpus"] = 0.25
    # 8 DALI threads gave 4.4x the images/s of 1 on a GPU host (deployments/dali_preprocessor.py).
    models["DaliPreprocessor"]["init_args"]["num_threads"] = 8
    # vLLM's CUDA engine (docs/llm.md, "Engine arguments") for every LLM, a GPU each: the model's own context
    # length stays.
    for name in config["applications"][0]["args"]["llm"]["generators"]:
        models[name]["init_args"]["engine_args"].update(
            dtype="bfloat16", gpu_memory_utilization=0.9, max_num_seqs=128, enforce_eager=False,
            kv_cache_memory_bytes=None)
        llm = _deployment(config, name)
        llm["ray_actor_options"] = {"num_cpus": 1, "num_gpus": 1}
        llm["user_config"]["engine_slots"] = 128
    return config


class _PlainDumper(yaml.SafeDumper):
    """serve_config.yaml's anchors written out in full: the manifest reads without them."""

    def ignore_aliases(self, data) -> bool:
        return True


def render(variant: str, source: Path = SERVE_CONFIG) -> str:
    config = yaml.safe_load(source.read_text())
    config = for_gpu_cluster(config) if variant == "gpu" else for_cluster(config)
    return HEADER + yaml.dump(config, Dumper=_PlainDumper, sort_keys=False, width=110, allow_unicode=True)


def splice(manifest: str, serve_config: str) -> str:
    """`manifest` with the block under its `serveConfigV2: |` replaced by `serve_config`."""
    match = re.search(r"^( *)serveConfigV2: \|\n((?:\1  .*\n|\n)*)", manifest, re.MULTILINE)
    if match is None:
        raise ValueError("no `serveConfigV2: |` block")
    indent = match.group(1) + "  "
    block = "".join(indent + line if line.strip() else "\n" for line in serve_config.splitlines(keepends=True))
    return manifest[:match.start(2)] + block + manifest[match.end(2):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail on drift instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for manifest, variant in MANIFESTS.items():
        committed = manifest.read_text()
        rendered = splice(committed, render(variant))
        if rendered != committed:
            stale.append(manifest.relative_to(K8S.parent))
            if not args.check:
                manifest.write_text(rendered)
    if args.check and stale:
        print(f"stale, run `make k8s`: {', '.join(map(str, stale))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
