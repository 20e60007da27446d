"""Pods on one machine without Kubernetes, as a kubelet would run them: each a container of an image, run by runc
(Debian's) on a rootfs that buildah makes of the image (`buildah from`, `buildah mount`), in a network namespace
of its own, with the image's environment and working directory, the pod's variables, files, /dev/shm size and
/etc/hosts. No rlimits are set: this machine refuses a container's setrlimit without CAP_SYS_RESOURCE, and podman
always sets some (its runs failed here)."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Docker's default capabilities for a root process (runc's own template keeps only three).
CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
                "CAP_SETUID", "CAP_SYS_CHROOT"]


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout.strip()


@dataclass
class Pod:
    name: str
    container: str  # buildah's working container: the rootfs
    bundle: Path
    log: Path
    process: subprocess.Popen

    def logs(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)

    def remove(self) -> None:
        subprocess.run(["runc", "kill", self.name, "KILL"], capture_output=True)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        subprocess.run(["runc", "delete", "--force", self.name], capture_output=True)
        subprocess.run(["buildah", "umount", self.container], capture_output=True)
        subprocess.run(["buildah", "rm", self.container], capture_output=True)
        shutil.rmtree(self.bundle, ignore_errors=True)


def image_exists(image: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True).returncode == 0


def start(name: str, image: str, netns: str, command: list[str], env: dict[str, str], state: Path,
          files: dict[str, str] | None = None, hosts: dict[str, str] | None = None, shm: str = "64m") -> Pod:
    """Run `command` in a new container of `image` in the namespace `netns`; `files` are host paths bound read-only
    (or a folder, read-write, when it ends with "/") at container paths; `hosts` are /etc/hosts entries."""
    config = json.loads(_run("buildah", "inspect", "--type", "image", image))["OCIv1"]["config"]
    container = _run("buildah", "from", "--name", name, image)
    rootfs = _run("buildah", "mount", container)
    bundle = state / name
    bundle.mkdir(parents=True)
    (bundle / "hosts").write_text("127.0.0.1 localhost\n" + "".join(f"{ip} {host}\n"
                                                                    for host, ip in (hosts or {}).items()))
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    image_env = dict(item.split("=", 1) for item in config.get("Env", []))
    spec["process"].update(terminal=False, args=command, cwd=config.get("WorkingDir") or "/",
                           env=[f"{key}={value}" for key, value in (image_env | env).items()])
    spec["process"].pop("rlimits", None)
    spec["process"]["capabilities"] = {kind: CAPABILITIES for kind in ("bounding", "effective", "permitted")}
    spec["root"] = {"path": rootfs, "readonly": False}
    spec["hostname"] = name
    network = {"type": "network", "path": f"/run/netns/{netns}"}
    spec["linux"]["namespaces"] = [network if n["type"] == "network" else n for n in spec["linux"]["namespaces"]]
    for mount in spec["mounts"]:
        if mount["destination"] == "/dev/shm":
            mount["options"] = [o for o in mount["options"] if not o.startswith("size=")] + [f"size={shm}"]
    binds = {str(bundle / "hosts"): "/etc/hosts", **(files or {})}
    spec["mounts"] += [{"destination": target.rstrip("/"), "type": "bind", "source": source,
                        "options": ["rbind", "rw" if target.endswith("/") else "ro"]}
                       for source, target in binds.items()]
    (bundle / "config.json").write_text(json.dumps(spec))
    log = bundle / "log"
    with log.open("w") as out:
        process = subprocess.Popen(["runc", "run", "--bundle", str(bundle), name], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Pod(name, container, bundle, log, process)
