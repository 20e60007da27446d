"""Servers that benchmarks start as subprocesses: started in their own session, stopped as a whole group."""

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from testkit.polling import GiveUp, NotYet, eventually


@contextlib.contextmanager
def running_process(command: Sequence[str], env: Mapping[str, str], ready: Callable[[], bool], name: str,
                    ready_timeout_s: float) -> Iterator[subprocess.Popen]:
    """Starts `command` and yields it once `ready()` is true; raises RuntimeError with the tail of its output
    if it exits or `ready_timeout_s` passes first. Stops its whole process group after."""
    log = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads along, and a full pipe would block the server
    # Own session: servers spawn children (vLLM's engine core, PyTriton's tritonserver), and stopping must reach them.
    process = subprocess.Popen(list(command), env=dict(env), start_new_session=True, stdout=log,
                               stderr=subprocess.STDOUT)
    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")[-3000:]

    def started() -> bool:
        if process.poll() is not None:
            raise GiveUp(f"{name} exited: {output()}")
        return ready()

    try:
        try:
            eventually(started, ready_timeout_s, 0.5, f"{name} ready")
        except (GiveUp, NotYet) as failed:
            raise RuntimeError(f"{name} did not start: {failed}\n{output()}") from None
        yield process
    finally:
        stop_process_group(process)
        log.close()


def stop_process_group(process: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the group, SIGKILL whatever of it is left after `grace_s`; returns once all of it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + grace_s
    while True:
        try:
            os.killpg(process.pid, signal.SIGKILL if time.monotonic() > deadline or process.poll() is None else 0)
        except ProcessLookupError:
            process.wait()
            return
        time.sleep(0.2)
