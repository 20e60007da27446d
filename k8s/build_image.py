"""`make image`: the platform's image (k8s/Dockerfile) built with buildah, where no image registry is reachable.

The base is built here first when BASE_IMAGE names the local one (the default): Debian bookworm from debootstrap
(kept as .data/image/base/rootfs.tar while its package list is unchanged), then k8s/base-image/Containerfile.
Builds keep their layers (`--layers`) and the artifacts builder keeps its own cache, so a change of code
rebuilds in minutes. The machine's pip configuration (its indexes, find-links, certificate, constraints) is
mounted into the build's RUN steps, never baked into the image. The image is written as an OCI archive,
.data/image/platform.oci.tar, and its name printed. Needs root, buildah, runc and debootstrap (Debian packages).
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / ".data" / "image"
LOCAL_BASE = "localhost/serving-foundation-base:bookworm-py311"
# What the platform needs of Debian besides a shell: Python 3.11 with venv, CA certificates, libnuma (vLLM's CPU
# kernels), redis-server (the local overlay's Redis runs this image) and ps (ray stop, the operator's probes).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "libnuma1", "redis-server", "procps", "curl")
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Layers kept between builds; RUN steps on the host's network (no CNI set up here) under runc (crun fails on this
# machine's hybrid cgroups), with cgroupfs (no systemd).
BUILD_FLAGS = ("--layers", "--network", "host", "--runtime", "runc", "--cgroup-manager", "cgroupfs")


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def image_exists(name: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", name], capture_output=True).returncode == 0


def build_base() -> None:
    """debootstrap's bookworm (once per package list), then the base's Containerfile on it."""
    folder = OUT / "base"
    rootfs_tar = folder / "rootfs.tar"
    stamp = folder / "packages"
    wanted = hashlib.sha256(" ".join((MIRROR, *BASE_PACKAGES)).encode()).hexdigest()
    if not (rootfs_tar.exists() and stamp.exists() and stamp.read_text() == wanted):
        rootfs = folder / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(rootfs),
            MIRROR)
        # apt's downloaded packages are not part of the image.
        shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        run("tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(rootfs_tar), ".")
        shutil.rmtree(rootfs)
        stamp.write_text(wanted)
    run("buildah", "build", *BUILD_FLAGS, "-f", str(REPO / "k8s" / "base-image" / "Containerfile"), "-t", LOCAL_BASE,
        str(folder))


def pip_mounts() -> list[str]:
    """`--volume` flags that give the build's pip this machine's pip configuration: one pip.conf of every setting
    in effect (files and PIP_* variables), and each local file or folder it names (the CA bundle of a proxy, local
    indexes and wheels), read-only at the same path."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    settings: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        settings[key.split(".", 1)[1]] = value.strip("'")
    lines, paths = ["[global]"], set()
    for key, value in settings.items():
        lines.append(f"{key} = {value}")
        for item in value.split():
            # A file:// index's pages link to files beside it (…/simple/ → …/files/): its parent goes in whole.
            path = str(Path(urlsplit(item).path).parent) if item.startswith("file://") else item
            if path.startswith("/") and Path(path).exists():
                paths.add(path)
    conf = OUT / "pip.conf"
    conf.write_text("\n".join(lines) + "\n")
    return ["--volume", f"{conf}:/etc/pip.conf:ro",
            *(flag for path in sorted(paths) for flag in ("--volume", f"{path}:{path}:ro"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE", LOCAL_BASE),
                        help="the image to build on (the local base is built first)")
    args = parser.parse_args()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    name = f"localhost/{project['name']}:{project['version']}"
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    if args.base_image == LOCAL_BASE:
        build_base()
    base_s = time.monotonic() - began
    run("buildah", "build", *BUILD_FLAGS, *pip_mounts(),
        "--ignorefile", str(REPO / "k8s" / "Dockerfile.dockerignore"), "-f", str(REPO / "k8s" / "Dockerfile"),
        "--build-arg", f"BASE_IMAGE={args.base_image}",
        # The CPU torch wheel comes from the machine's find-links (pip prefers 2.13.0+cpu to PyPI's 2.13.0).
        "--build-arg", "TORCH_INDEX=https://pypi.org/simple", "-t", name, str(REPO))
    built_s = time.monotonic() - began
    archive = OUT / "platform.oci.tar"
    archive.unlink(missing_ok=True)
    run("buildah", "push", "--disable-compression", name, f"oci-archive:{archive}:{name}")
    size = subprocess.run(["buildah", "images", "--format", "{{.Size}}", name], capture_output=True, text=True,
                          check=True).stdout.strip()
    print(f"base {base_s:.0f} s, image {built_s - base_s:.0f} s, archive {time.monotonic() - began - built_s:.0f} s; "
          f"image {size}, archive {archive.stat().st_size / 1e9:.2f} GB ({archive})")
    print(name)


if __name__ == "__main__":
    main()
