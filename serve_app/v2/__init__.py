"""The KServe V2 / Open Inference Protocol on the HTTP ingress."""
