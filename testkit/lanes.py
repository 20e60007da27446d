"""`make test`: the whole suite in two lanes at once, one pytest process each. The platform lane (tests/integration,
tests/fault) mostly waits on the platform it starts; the unit lane (tests/unit, tests/k8s, tests/gpu) needs no
Ray and fills the time. Each lane writes its log, its JUnit XML and its slowest tests under .data/test-results/;
the platform lane streams to the terminal, the unit lane's log is printed when it ends, then both summaries.
Exits non-zero when either lane failed. Extra arguments go to both pytest processes."""

import subprocess
import sys
import time

from serve_app.common.settings import REPO_ROOT

RESULTS = REPO_ROOT / ".data" / "test-results"
LANES = {"platform": ["tests/integration", "tests/fault"], "unit": ["tests/unit", "tests/k8s", "tests/gpu"]}
STREAMED = "platform"
# Tests that wait out an LLM engine's or the whole application's start (a minute or two each) run in
# `make test-restarts`: with them the platform lane is over the suite's budget.
DESELECTED = "not slow_restart"


def _command(lane: str, paths: list[str], extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *paths, "-m", DESELECTED, "--durations=15",
            f"--junitxml={RESULTS / f'{lane}.xml'}", "-o", f"junit_suite_name={lane}", *extra]


def _summary(log: str) -> str:
    lines = [line for line in log.splitlines() if line.startswith("=") and " in " in line]
    return lines[-1] if lines else "(no summary: the lane stopped early)"


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    started, extra = time.monotonic(), sys.argv[1:]
    processes, logs = {}, {}
    for lane, paths in LANES.items():
        logs[lane] = RESULTS / f"{lane}.log"
        with logs[lane].open("w") as log:
            processes[lane] = subprocess.Popen(_command(lane, paths, extra), cwd=REPO_ROOT, stdout=log,
                                               stderr=subprocess.STDOUT)
    with logs[STREAMED].open() as streamed:
        while processes[STREAMED].poll() is None:
            sys.stdout.write(streamed.read())
            sys.stdout.flush()
            time.sleep(0.5)
        sys.stdout.write(streamed.read())
    codes = {lane: process.wait() for lane, process in processes.items()}
    for lane in LANES:
        if lane != STREAMED:
            print(f"\n{'#' * 30} lane {lane} {'#' * 30}\n{logs[lane].read_text()}")
    print(f"\n{'#' * 30} lanes {'#' * 30}")
    for lane, code in codes.items():
        print(f"{lane:>9}: {_summary(logs[lane].read_text())} (exit {code})")
    print(f"    whole: {time.monotonic() - started:.0f} s; logs and JUnit XML in {RESULTS}")
    # pytest's 5 is "no tests collected": a lane a -k or -m selection left empty has not failed.
    return 0 if all(code in (0, 5) for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
