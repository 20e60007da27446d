"""The key jobs are sealed with: from the environment (a fleet's secret) or a file made once, owner-only,
that every process on the machine reads alike."""

import base64
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from serve_app.jobs.sealing import Sealer


def test_a_key_file_is_made_once_owner_only_and_shared(tmp_path):
    path = tmp_path / "keys" / "job-data.key"
    with ThreadPoolExecutor(8) as pool:
        sealers = list(pool.map(lambda _: Sealer.from_settings(None, path), range(8)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    sealed = sealers[0].seal(b"secret", "job:a:input")
    assert all(sealer.open(sealed, "job:a:input") == b"secret" for sealer in sealers)
    assert sealers[1].open(sealed, "job:b:input") is None  # sealed for another job
    assert list(path.parent.iterdir()) == [path]  # no draft left behind


def test_a_key_from_the_environment():
    key = base64.b64encode(os.urandom(32)).decode()
    sealed = Sealer.from_settings(key, None).seal(b"x", "c")
    assert Sealer.from_settings(key, None).open(sealed, "c") == b"x"
    for bad in ("short", base64.b64encode(b"16 bytes only!!!").decode()):
        with pytest.raises(ValueError, match="32 bytes"):
            Sealer.from_settings(bad, None)
