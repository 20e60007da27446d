"""Every object the kustomizations render validates against its schema, offline: KubeRay's against its CRD's
openAPIV3Schema (the KubeRay v1.7 CRDs kept as data in ../shared/k8s-crds), Kubernetes' own kinds against the
schemas of Kubernetes 1.37 that the kubernetes-validate package ships (its strict ones, the JSON schemas of
kubeconform's kind). Unknown fields count as errors, as `kubectl apply`'s strict field validation makes them;
planted ones are caught. prometheus-operator's PodMonitor is the one kind without a schema here."""

import functools

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator

from serve_app.common.settings import REPO_ROOT
from tests.k8s.conftest import KUSTOMIZATIONS, build

CRDS = REPO_ROOT.parent / "shared" / "k8s-crds"
KUBERNETES = "1.37.0"
# Custom resources: KubeRay's have their CRDs (above); prometheus-operator's CRDs are not kept here.
CUSTOM_KINDS = {"RayService", "PodMonitor"}


def _strict(schema: dict) -> dict:
    """The schema with every described object closed to fields it does not name (what the API server's strict
    field validation does), except where the CRD keeps unknown fields."""
    if isinstance(schema, dict):
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        for value in schema.values():
            if isinstance(value, dict):
                _strict(value)
                if value is schema.get("properties"):
                    for field in value.values():
                        _strict(field)
            elif isinstance(value, list):
                for item in value:
                    _strict(item)
    return schema


@functools.cache
def _validator(api_version: str, kind: str) -> Draft7Validator:
    """The validator of that version of the kind's CRD (KubeRay names the file ray.io_<kind>s.yaml)."""
    group, version = api_version.split("/")
    text = (CRDS / f"{group}_{kind.lower()}s.yaml").read_text()
    crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # large files: the C parser
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return Draft7Validator(_strict(served["schema"]["openAPIV3Schema"]))


@pytest.fixture(scope="module")
def validators():
    if not CRDS.is_dir():
        pytest.skip(reason=f"no KubeRay CRDs at {CRDS}: they are kept beside the repository, not in it")
    return _validator


def _errors(validator: Draft7Validator, document: dict) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message[:200]}"
            for error in validator.iter_errors(document)]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_kuberay_object_validates_against_its_crd(kubectl_present, validators, kustomization):
    documents = [d for d in build(kustomization) if d and d["apiVersion"].startswith("ray.io/")]
    for document in documents:
        validator = validators(document["apiVersion"], document["kind"])
        assert _errors(validator, document) == [], document["metadata"]["name"]


def test_a_planted_bad_field_is_caught(kubectl_present, validators):
    (service,) = [d for d in build("base") if d and d["kind"] == "RayService"]
    validator = validators(service["apiVersion"], "RayService")
    service["spec"]["rayClusterConfig"]["headGroupSpec"]["numCpus"] = 0  # rayStartParams' field, misplaced
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"] = "two"
    errors = _errors(validator, service)
    assert any("numCpus" in error for error in errors), errors
    assert any("minReplicas" in error for error in errors), errors


def _builtin_errors(document: dict) -> list[str]:
    try:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message[:200]}"]
    return []


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_kubernetes_object_validates_against_its_schema(kubectl_present, kustomization):
    for document in build(kustomization):
        if document["kind"] in CUSTOM_KINDS:
            continue
        # A kind or apiVersion Kubernetes 1.37 does not have fails here too (SchemaNotFoundError).
        assert _builtin_errors(document) == [], (document["kind"], document["metadata"]["name"])


def test_a_planted_bad_field_in_a_kubernetes_object_is_caught(kubectl_present):
    (redis,) = [d for d in build("local") if d["kind"] == "Deployment" and d["metadata"]["name"] == "platform-redis"]
    redis["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # `resources`, misspelt
    assert any("resource" in error for error in _builtin_errors(redis))
    redis["spec"]["template"]["spec"]["containers"][0].pop("resource")
    redis["spec"]["replicas"] = "one"
    assert any("replicas" in error or "'one'" in error for error in _builtin_errors(redis))
