"""DAG ensembles wired from deployment handles."""
