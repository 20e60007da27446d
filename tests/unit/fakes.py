"""Stand-ins for Serve's deployment handles, so graphs and the V2 layer run without Ray."""

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any


class FakeHandle:
    """`handle.method.remote(...)` (and `handle.remote(...)` for `__call__`) awaits the plain async
    callable given for that method."""

    def __init__(self, **methods: Callable[..., Awaitable[Any]]):
        self._methods = methods

    def remote(self, *args, **kwargs) -> Awaitable[Any]:
        return self._methods["__call__"](*args, **kwargs)

    def options(self, **_options) -> "FakeHandle":
        """Handle options (stream=True, ...) change nothing here: each method is the callable given."""
        return self

    def __getattr__(self, name: str) -> SimpleNamespace:
        if name.startswith("_"):
            raise AttributeError(name)
        return SimpleNamespace(remote=self._methods.get(name, _missing(name)))


def _missing(name: str) -> Callable[..., Awaitable[Any]]:
    async def call(*_, **__):  # like a handle, the call fails when awaited, in the replica
        raise AttributeError(f"the deployment has no method {name!r}")
    return call
