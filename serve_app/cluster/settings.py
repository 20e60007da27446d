"""The platform on several hosts: each single-machine shortcut and the value a multi-host cluster uses instead.
`python -m serve_app.cluster` starts its nodes with these, and the k8s/ manifests hold the same values
(tests/k8s compares them):

| shortcut on one machine (Makefile, serve_config.yaml)   | on several hosts                                     |
|---------------------------------------------------------|------------------------------------------------------|
| Ray binds to 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) | each node's own address, dashboard on 0.0.0.0     |
| API keys in a local file (PLATFORM_KEY_STORE=file)     | in Redis, so every host's replicas see one key table |
| Feast's online store in SQLite on local disk           | in Redis (PLATFORM_ONLINE_STORE=redis)               |
| Redis on 127.0.0.1 without a password                   | one Redis every host reaches, with a password        |
| artifacts under the checkout                            | a path every node has (the image's, or a shared one) |
| one proxy, on the head (proxy_location: HeadOnly)       | HAProxy on every node (EveryNode, 0.0.0.0)           |
| one Ingress replica at least                            | one per worker host at least, spread by Ray          |
"""

import copy
import os

# What every node of a multi-host cluster starts with, besides the Redis URL (it carries a password) and the
# two paths that depend on where the platform is installed (NODE_PATHS).
NODE_ENV = {
    "PLATFORM_KEY_STORE": "redis",
    "PLATFORM_ONLINE_STORE": "redis",
    # Serve's throughput-optimized mode (direct ingress, GC frozen after start-up); request logs unbuffered.
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1",
    # Handle calls between replicas (now between hosts) take the largest body the gate admits (64 MiB).
    "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": "67108864",
    # The gRPC proxy takes messages up to the V2 body limit (32 MiB).
    "RAY_SERVE_GRPC_MAX_MESSAGE_SIZE": "33554432",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": "serve_app.security.proxy:proxy_middlewares",
}
NODE_PATHS = ("PLATFORM_ARTIFACTS_DIR", "RAY_SERVE_HAPROXY_BINARY_PATH")
# Single-machine switches a node of a multi-host cluster must not inherit (Ray's default then binds the node's
# own address).
ONE_MACHINE_ONLY = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",)
# Where the loss of one worker host still leaves an Ingress replica serving (k8s/: the worker group's minimum).
MIN_INGRESS_REPLICAS = 2


def node_env(redis_url: str, paths: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a node's `ray start` gets (its raylet passes it to every worker and replica)."""
    env = {key: value for key, value in os.environ.items() if key not in ONE_MACHINE_ONLY and key != "RAY_ADDRESS"}
    return {**env, **NODE_ENV, **paths, "PLATFORM_REDIS_URL": redis_url, "RAY_AUTH_MODE": "token", **(extra or {})}


def for_cluster(config: dict, ingress_replicas: int = MIN_INGRESS_REPLICAS) -> dict:
    """serve_config.yaml as a cluster of several hosts runs it: each node's HAProxy on its own address, so a lost
    node takes no ingress with it, and an Ingress replica on each of `ingress_replicas` worker hosts (Serve
    runs a proxy where a replica runs; one lost host leaves the others serving while its other replicas start
    again elsewhere)."""
    config = copy.deepcopy(config)
    config["http_options"]["host"] = "0.0.0.0"
    config["proxy_location"] = "EveryNode"
    (ingress,) = [d for d in config["applications"][0]["deployments"] if d["name"] == "Ingress"]
    scaling = ingress["autoscaling_config"]
    scaling["min_replicas"] = ingress_replicas
    scaling["max_replicas"] = max(scaling["max_replicas"], 2 * ingress_replicas)
    # One per host: Ray's spread is best effort, and a replacement packed beside the survivor would stay there
    # (Serve never moves a running replica), leaving a host that comes back without an Ingress and a proxy. A
    # lost host's Ingress replica waits for a host instead (KubeRay's autoscaler adds one for it).
    ingress["max_replicas_per_node"] = 1
    return config
