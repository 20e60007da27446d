"""Ray Serve deployments, one class per file; each loads its model in `__init__` and warms up."""
