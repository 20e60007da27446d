"""Variants of serve_config.yaml that benchmarks deploy beside the shipped one."""

import copy


def models_as_deployments(config: dict) -> dict:
    """The config with every model the Ingress hosts (`placement: ingress`) made a deployment of its own,
    one handle hop per graph stage: its user_config moves to a `deployments:` entry and its bound on calls
    in flight becomes max_ongoing (≤ 32) plus max_queued requests."""
    config = copy.deepcopy(config)
    application = config["applications"][0]
    for name, model in application["args"]["models"].items():
        if model.pop("placement", None) != "ingress":
            continue
        calls = model.pop("max_calls", None) or 96
        entry = {"name": name, "max_ongoing_requests": min(calls, 32), "max_queued_requests": max(calls - 32, 32)}
        if user_config := model.pop("user_config", None):
            entry["user_config"] = user_config
        application["deployments"].append(entry)
    return config
