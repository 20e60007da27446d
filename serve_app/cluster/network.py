"""The hosts of a cluster on one machine: a Linux bridge and one network namespace per host, each with its own
address on the bridge, so every Ray node has its own network stack, ports and address, and the traffic between
nodes crosses a real network. Every name starts with PREFIX: what `down` removes is what `up` made. Needs root."""

import ipaddress
import os
import signal
import subprocess
import time

PREFIX = "sfc"
BRIDGE = f"{PREFIX}-br0"
# A private range no other interface here uses; the bridge (and Redis on it) takes the first address.
SUBNET = ipaddress.ip_network("10.213.0.0/24")
GATEWAY = str(SUBNET[1])


def netns_name(index: int) -> str:
    return f"{PREFIX}-h{index}"


def host_ip(index: int) -> str:
    return str(SUBNET[10 + index])


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def bridge_exists() -> bool:
    return subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0


def namespaces() -> list[str]:
    """This project's namespaces that exist now."""
    names = (line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip())
    return sorted(name for name in names if name.startswith(f"{PREFIX}-h"))


def create_bridge() -> None:
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def create_host(index: int) -> str:
    """A namespace with loopback and one veth on the bridge (its end here is named like the namespace)."""
    name = netns_name(index)
    _ip("netns", "add", name)
    _ip("link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name)
    _ip("link", "set", name, "master", BRIDGE, "up")
    _ip("-n", name, "addr", "add", f"{host_ip(index)}/{SUBNET.prefixlen}", "dev", "eth0")
    _ip("-n", name, "link", "set", "eth0", "up")
    _ip("-n", name, "link", "set", "lo", "up")
    _ip("-n", name, "route", "add", "default", "via", GATEWAY)
    return name


def in_host(name: str, command: list[str]) -> list[str]:
    return ["ip", "netns", "exec", name, *command]


def pids(name: str) -> list[int]:
    """Every process whose network is this host's: what runs on the host."""
    return [int(pid) for pid in _ip("netns", "pids", name).split()]


def kill_host(name: str, timeout_s: float = 10) -> int:
    """SIGKILL every process of the host at once (a host lost without notice); returns how many there were."""
    killed, deadline = 0, time.monotonic() + timeout_s
    while (found := pids(name)) and time.monotonic() < deadline:
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    return killed


def remove(names: list[str]) -> None:
    """The hosts' processes killed, their namespaces (and so their veths) deleted, then the bridge."""
    for name in names:
        kill_host(name)
        # The veth first: a namespace's deletion takes its end with it, but later (the kernel cleans up
        # namespaces asynchronously), and a new `up` would find the name taken.
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if bridge_exists():
        _ip("link", "del", BRIDGE)
