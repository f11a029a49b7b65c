"""Run a command and measure that process alone: its wall time, CPU time and peak RSS.

Why a launcher: on Linux a child's `ru_maxrss` starts from its parent's resident set. `exec`
records the high-water mark of the memory image it replaces, and a forked (or vforked) child's
image is its parent's, so a benchmark holding 700 MB (a generated log, a re-read tree) reports at
least 700 MB for `/bin/true`. The command is therefore forked by a bare `python -S` launcher, a
fresh process of a few MB, which waits for it with `os.wait4` (the rusage of exactly that child
and its reaped descendants, unlike RUSAGE_CHILDREN, whose ru_maxrss is the max over every child
ever waited for) and reports the figures on a pipe of their own.

Used by bench/ingest.py and bench/claude_code.py (each imports it from its own directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_LAUNCHER = """
import json, os, sys, time
fd, cmd = int(sys.argv[1]), sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        os.write(2, f"{cmd[0]}: {exc}\\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with os.fdopen(fd, "w") as out:
    json.dump({"status": status, "wall": wall, "maxrss": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime}, out)
"""


@dataclass(frozen=True)
class Measured:
    """What one run of a command took: exit code, wall seconds, peak RSS bytes, user+sys CPU s."""

    returncode: int
    wall_s: float
    maxrss_bytes: int
    cpu_s: float


def measure(
    cmd: Sequence[str],
    stdout: IO[bytes],
    stderr: IO[bytes] | int,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> Measured:
    """Run `cmd` in `cwd` with `env` (default: this process's), its output to `stdout`/`stderr`
    (`subprocess.STDOUT` joins them); the figures of that process alone (see the module docstring)."""
    read_end, write_end = os.pipe()
    try:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(write_end), *cmd],
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=None if env is None else dict(env),
            pass_fds=(write_end,),
        )
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "r") as got:
            read_end = -1
            text = got.read()
        launcher.wait()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    if not text:
        raise RuntimeError(f"the launcher of {cmd[0]} exited {launcher.returncode} without its figures")
    figures = json.loads(text)
    # Linux reports ru_maxrss in KiB, macOS in bytes
    rss = figures["maxrss"] if sys.platform == "darwin" else figures["maxrss"] * 1024
    code = os.waitstatus_to_exitcode(figures["status"])
    return Measured(code, figures["wall"], rss, figures["cpu"])
