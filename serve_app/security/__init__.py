"""The data plane's guard: who calls (API keys), how often (rate limits in Redis) and at what cost (input
limits), checked in one ASGI middleware (`gate.py`) before any route runs."""
