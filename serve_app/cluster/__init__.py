"""A Ray cluster of several hosts on one machine, each host a network namespace (`python -m serve_app.cluster`)."""
