"""The one readiness rule, for every protocol: a set of deployments is ready when each has serving
replicas, as Serve's controller reports it; the server is ready when every deployment of the app is."""

from collections.abc import Iterable

from ray import serve
from ray.serve.schema import DeploymentStatus

# A deployment serves while it has replicas up, autoscaling or not; UPDATING/UNHEALTHY do not count.
SERVING = {DeploymentStatus.HEALTHY, DeploymentStatus.UPSCALING, DeploymentStatus.DOWNSCALING}


def readiness(deployments: Iterable[str] | None = None) -> tuple[bool, dict[str, str]]:
    """Whether these deployments (all of the calling replica's application when None) serve, and each
    one's status. A replica counts once its __init__ returned, and __init__ loads and warms up the model."""
    app_name = serve.get_replica_context().app_name
    statuses = {name: d.status for name, d in serve.status().applications[app_name].deployments.items()}
    wanted = statuses if deployments is None else {name: statuses.get(name) for name in deployments}
    return (all(status in SERVING for status in wanted.values()),
            {name: getattr(status, "value", "MISSING") for name, status in wanted.items()})
