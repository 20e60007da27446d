"""The hardening of HAProxy's config, on the config Ray's own template renders (Ray's code, this Ray's
version): every rewrite lands, HAProxy accepts the result, and a template that lost a rewritten line is
refused rather than run unhardened."""

import subprocess

import pytest
from ray.serve._private.haproxy import HAProxyApi, HAProxyConfig
from ray.serve.config import HTTPOptions, gRPCOptions

from serve_app.ops.haproxy import HAProxySettings, TemplateChanged, haproxy_binary, harden


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("haproxy")
    config = HAProxyConfig(http_options=HTTPOptions(host="127.0.0.1", port=8000, keep_alive_timeout_s=5),
                           grpc_options=gRPCOptions(port=9000, grpc_servicer_functions=["some.module:add"]),
                           socket_path=str(folder / "admin.sock"))
    HAProxyApi(cfg=config, config_file_path=str(folder / "haproxy.cfg"))._generate_config_file_internal()
    return (folder / "haproxy.cfg").read_text()


def test_rays_config_is_hardened_and_valid(rendered, tmp_path):
    hardened = harden(rendered, HAProxySettings(header_timeout_s=7, connections_per_source=33))
    assert "mode 600 level admin" in hardened and "mode 666" not in hardened
    defaults = hardened.split("\ndefaults\n")[1].split("\nfrontend ")[0]
    assert defaults.rstrip().endswith("timeout http-request 7s") and "timeout http-keep-alive 5s" in defaults
    assert hardened.count("tcp-request connection reject if { sc0_conn_cur gt 33 }") == 2  # HTTP and gRPC
    assert "bind 127.0.0.1:8404" in hardened and "bind *:" not in hardened
    assert "no option splice-request" in hardened and "\n    option splice-request" not in hardened
    (tmp_path / "haproxy.cfg").write_text(hardened.replace(rendered.split("errorfile 502 ")[1].split()[0],
                                                           str(tmp_path / "500.http")))
    (tmp_path / "500.http").write_text("HTTP/1.0 500 Internal Server Error\r\n\r\n")
    check = subprocess.run([haproxy_binary(), "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("line", ["mode 666 level admin", "listen stats", "frontend http_frontend",
                                  "option splice-request"])
def test_a_template_without_a_rewritten_line_is_refused(rendered, line):
    with pytest.raises(TemplateChanged):
        harden(rendered.replace(line, "something else"), HAProxySettings())
