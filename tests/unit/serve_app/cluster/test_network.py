"""The cluster's hosts (serve_app/cluster/network.py): namespaces on a bridge reach each other by address, a host's
processes are found and killed by its namespace, and removal leaves none of what was made. No Ray."""

import os
import shutil
import subprocess
import sys

import pytest

from serve_app.cluster import network

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2")
PORT = 8123
SERVER = ("import socket, sys; s = socket.create_server((sys.argv[1], int(sys.argv[2]))); print('up', flush=True); "
          "c, _ = s.accept(); c.sendall(b'from ' + sys.argv[1].encode()); c.close(); s.accept()")
CLIENT = "import socket, sys; print(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).recv(64).decode())"


@pytest.fixture
def hosts():
    if network.bridge_exists() or network.namespaces():
        pytest.skip(reason="a cluster is up on this machine (python -m serve_app.cluster down)")
    try:
        network.create_bridge()
        names = [network.create_host(0), network.create_host(1)]
    except subprocess.CalledProcessError as refused:  # a container without the right to make them
        network.remove(network.namespaces())
        pytest.skip(reason=f"this machine cannot make network namespaces: {refused.stderr.strip()}")
    yield names
    network.remove(network.namespaces())


def test_a_host_reaches_another_by_address_and_its_processes_die_with_it(hosts):
    first, second = hosts
    server = subprocess.Popen(network.in_host(second, [sys.executable, "-c", SERVER, network.host_ip(1), str(PORT)]),
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert server.stdout.readline().strip() == "up"
    answer = subprocess.run(network.in_host(first, [sys.executable, "-c", CLIENT, network.host_ip(1), str(PORT)]),
                            capture_output=True, text=True, timeout=10)
    assert answer.stdout.strip() == f"from {network.host_ip(1)}"
    assert network.pids(second) == [server.pid] and network.pids(first) == []

    assert network.kill_host(second) == 1
    assert server.wait(5) == -9 and network.pids(second) == []


def test_removal_leaves_nothing_it_made(hosts):
    network.remove(hosts)
    assert network.namespaces() == [] and not network.bridge_exists()
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert network.PREFIX not in links
