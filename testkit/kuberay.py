"""What the KubeRay operator (v1.7) makes of a RayService, for running the platform's image as its pods run it
without a Kubernetes cluster: a group's Ray container command and environment (ray-operator/controllers/ray/
common/pod.go: generateRayStartCommand, convertParamMap, setContainerEnvVars, configureRedisFT), the
environment a manifest's `envFrom`/`env` resolve to, and the operator's Serve deploy (a PUT of serveConfigV2 to
the dashboard, utils/dashboardclient)."""

import base64
import json
import math
import re
import subprocess
from pathlib import Path

import httpx
import yaml

GCS_PORT, DASHBOARD_PORT, METRICS_PORT, DASHBOARD_AGENT_PORT = 6379, 8265, 8080, 52365
# `ray start` flags whose "true"/"false" is passed as a value rather than as a bare switch (convertParamMap).
VALUED_BOOLEANS = ("log-color", "include-dashboard", "include-log-monitor")
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "m": 1e-3}


def kustomize(folder: Path) -> list[dict]:
    """`kubectl kustomize <folder>`, offline, as documents."""
    built = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True,
                           timeout=60).stdout
    return [document for document in yaml.safe_load_all(built) if document]


def quantity(text: str | int) -> float:
    """A Kubernetes quantity ("500m", "7Gi", "2") as a number."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    return float(match[1]) * _UNITS.get(match[2], 1)


def ray_start_command(group: dict, head: bool, head_address: str, login_shell: bool = False) -> list[str]:
    """The Ray container's command as the operator writes it: the container's own command first (if it has
    one), then the open-files limit and the generated `ray start`, under `bash -c` (`-lc` where the operator
    runs with ENABLE_LOGIN_SHELL)."""
    params = {key: str(value) for key, value in group.get("rayStartParams", {}).items()}
    if head:
        params.setdefault("dashboard-host", "0.0.0.0")
    else:
        params.setdefault("address", head_address)
    params.setdefault("metrics-export-port", str(METRICS_PORT))
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", str(DASHBOARD_AGENT_PORT))
    container = group["template"]["spec"]["containers"][0]
    resources = container.get("resources", {})
    cpu = resources.get("limits", {}).get("cpu") or resources.get("requests", {}).get("cpu")
    if "num-cpus" not in params and cpu:
        params["num-cpus"] = str(math.ceil(quantity(cpu)))  # resource.Quantity.Value() rounds up
    if "memory" not in params and "memory" in resources.get("limits", {}):
        params["memory"] = str(int(quantity(resources["limits"]["memory"])))
    flags = ""
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in VALUED_BOOLEANS:
            flags += f" --{key} " if value.lower() == "true" else ""
        else:
            flags += f" --{key}={value} "
    start = f"ray start --head {flags}" if head else f"ray start {flags}"
    own = "".join(f" {part} " for part in container.get("command", []) + container.get("args", []))
    generated = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; " + start
    return ["/bin/bash", "-lc" if login_shell else "-c", "--", f"{own} && {generated}" if own else generated]


def container_env(container: dict, documents: list[dict]) -> dict[str, str]:
    """What a container's `envFrom` (ConfigMaps) and `env` (values, Secret and ConfigMap keys, `$(VAR)`
    references to variables defined before) resolve to, from the rendered documents."""
    objects = {(d["kind"], d["metadata"]["name"]): d for d in documents}

    def data(kind: str, name: str) -> dict[str, str]:
        found = objects[(kind, name)]
        if kind == "Secret":
            return {k: base64.b64decode(v).decode() for k, v in found.get("data", {}).items()}
        return dict(found.get("data", {}))

    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(data("ConfigMap", source["configMapRef"]["name"]))
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), str(variable["value"]))
        else:
            ref = variable["valueFrom"].get("secretKeyRef") or variable["valueFrom"]["configMapKeyRef"]
            kind = "Secret" if "secretKeyRef" in variable["valueFrom"] else "ConfigMap"
            env[variable["name"]] = data(kind, ref["name"])[ref["key"]]
    return env


def operator_env(cluster: dict, group_name: str, head: bool, head_address: str, start_command: str,
                 auth_token: str, documents: list[dict]) -> dict[str, str]:
    """The variables the operator adds to a Ray container of a RayService's cluster (`cluster`: its
    rayClusterConfig): its identity, the generated command, the GCS address and timeouts, token auth, and on
    the head the GCS fault tolerance settings (their Secret resolved from the documents)."""
    env = {"RAY_CLUSTER_NAME": "platform", "RAY_CLUSTER_NAMESPACE": "default", "RAY_NODE_TYPE_NAME": group_name,
           "KUBERAY_GEN_RAY_START_CMD": start_command, "RAY_PORT": str(GCS_PORT),
           "RAY_TIMEOUT_MS_TASK_WAIT_FOR_DEATH_INFO": "0", "RAY_GCS_SERVER_REQUEST_TIMEOUT_SECONDS": "5",
           "RAY_SERVE_KV_TIMEOUT_S": "5", "RAY_ADDRESS": head_address, "RAY_USAGE_STATS_KUBERAY_IN_USE": "1",
           "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE": "1"}
    if cluster.get("authOptions", {}).get("mode") == "token":
        env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": auth_token}
    fault_tolerance = cluster.get("gcsFaultToleranceOptions")
    if fault_tolerance and head:
        password = container_env({"env": [{"name": "REDIS_PASSWORD", **fault_tolerance["redisPassword"]}]},
                                  documents)
        env |= {"RAY_external_storage_namespace": "platform", "RAY_REDIS_ADDRESS": fault_tolerance["redisAddress"],
                **password}
    elif fault_tolerance:
        env["RAY_gcs_rpc_server_reconnect_timeout_s"] = "600"
    return env


def head_params(cluster: dict) -> dict:
    """The head's rayStartParams with what GCS fault tolerance adds (the password from REDIS_PASSWORD)."""
    group = json.loads(json.dumps(cluster["headGroupSpec"]))
    if cluster.get("gcsFaultToleranceOptions", {}).get("redisPassword"):
        group.setdefault("rayStartParams", {})["redis-password"] = "$REDIS_PASSWORD"
    return group


def deploy_serve_config(dashboard_url: str, service: dict, auth_token: str) -> None:
    """The operator's deploy: serveConfigV2 as JSON, PUT to the dashboard's Serve API, with the cluster's token."""
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    response = httpx.put(f"{dashboard_url}/api/serve/applications/", json=config, timeout=60,
                         headers={"x-ray-authorization": f"Bearer {auth_token}"})
    response.raise_for_status()
