"""Serving foundation on Ray Serve: HTTP ingress, builders and shared leaf modules."""
