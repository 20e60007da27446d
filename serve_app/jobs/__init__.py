"""Asynchronous jobs (S0): any route or graph accepted at once (202) and run later by the JobConsumer
deployment from a durable Redis queue (Ray Serve's Celery task consumer), with state in Redis."""
