"""Models run inside the Ingress replica instead of as deployments of their own (`placement: ingress`
on a model in serve_config.yaml). A graph's stages on them cost no handle hop: no pickling, no gRPC
message, no second replica's queue, as a Triton ensemble runs its steps in one process. Placement is a
deployment choice: graphs, V2 and readiness call a hosted model through the same interface as a
DeploymentHandle (`handle.method.remote(...)`), and `@serve.batch` still batches its callers."""

import asyncio
import importlib
import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from serve_app.common.errors import ConcurrencyLimitReached
from serve_app.common.model_metadata import untagged_logs

logger = logging.getLogger("ray.serve")


class _Method:
    def __init__(self, function, slots: "_Slots | None" = None):
        self.function, self.slots = function, slots

    def remote(self, *args, **kwargs):
        """What awaiting a DeploymentHandle call gives: the method's result; an async generator method
        streams as a handle with stream=True does. Synchronous methods run on a thread, so a blocking
        one never stalls the Ingress's event loop."""
        if inspect.isasyncgenfunction(self.function):
            return self.function(*args, **kwargs)
        if inspect.iscoroutinefunction(self.function):
            call = self.function(*args, **kwargs)
        else:
            call = asyncio.to_thread(self.function, *args, **kwargs)
        return call if self.slots is None else self.slots.run(call)


class _Slots:
    """A hosted model's bound on calls in flight, as a deployment's max_ongoing + max_queued_requests:
    past it a call is refused at once (429, Retry-After) instead of waiting behind the others."""

    def __init__(self, name: str, limit: int):
        self.name, self.limit, self.taken = name, limit, 0

    async def run(self, call: Awaitable) -> Any:
        if self.taken >= self.limit:
            call.close()
            raise ConcurrencyLimitReached(f"model {self.name!r} has {self.limit} calls in flight; retry shortly")
        self.taken += 1
        try:
            return await call
        finally:
            self.taken -= 1


class HostedHandle:
    """A DeploymentHandle's calling surface over a model object in this process."""

    def __init__(self, name: str, model: Any, max_calls: int | None = None):
        self.deployment_name, self.model = name, model
        self.slots = _Slots(name, max_calls) if max_calls else None

    def __getattr__(self, method: str) -> _Method:
        if method.startswith("_"):
            raise AttributeError(method)
        return _Method(getattr(self.model, method), self.slots)

    def remote(self, *args, **kwargs):
        return _Method(self.model.__call__, self.slots).remote(*args, **kwargs)

    def options(self, **_options) -> "HostedHandle":
        """Handle options (stream=True, ...) mean nothing in-process: calls are direct."""
        return self

    async def check_health(self) -> None:
        if (check := getattr(self.model, "check_health", None)) is not None:
            await _Method(check).remote()


@dataclass(frozen=True)
class HostedModel:
    """What the Ingress needs to build a hosted model: its deployment's import path, constructor
    arguments (paths expanded) and user_config."""

    import_path: str
    init_args: dict[str, Any]
    user_config: dict[str, Any] | None = None
    max_calls: int | None = None  # calls in flight before a refusal; None: unbounded

    def host(self, name: str) -> HostedHandle:
        """The model class behind the `@serve.deployment`, built in this process as its replica would:
        its constructor, then `reconfigure(user_config)` when it takes one."""
        module, attribute = self.import_path.split(":")
        deployment = getattr(importlib.import_module(module), attribute)
        with untagged_logs():  # the Ingress's lines are not one model's
            model = deployment.func_or_class(**self.init_args)
        if self.user_config is not None and hasattr(model, "reconfigure"):
            model.reconfigure(self.user_config)
        logger.info("model hosted in the Ingress replica", extra={"model": name})
        return HostedHandle(name, model, self.max_calls)
