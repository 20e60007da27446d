"""Readiness of this application's deployments, as Serve's controller reports it."""

from ray import serve
from ray.serve.schema import DeploymentStatus

# A deployment serves while it has replicas up, autoscaling or not; UPDATING/UNHEALTHY do not count.
SERVING = {DeploymentStatus.HEALTHY, DeploymentStatus.UPSCALING, DeploymentStatus.DOWNSCALING}


def deployment_statuses() -> dict[str, DeploymentStatus]:
    """Every deployment of the calling replica's application and its status."""
    app_name = serve.get_replica_context().app_name
    return {name: d.status for name, d in serve.status().applications[app_name].deployments.items()}
