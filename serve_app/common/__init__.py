"""The leaf layer: what model replicas, graphs and the ingress share (errors and their classifier,
settings, batching, resilience, the LLM and model contracts that cross handles, text and feature
helpers). It imports nothing of the project outside itself."""
