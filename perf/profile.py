"""A py-spy profile of one worker during a measured run (the mixed scenario's breakdown).

py-spy (the perf extra) samples the worker's Python stacks from outside, 100 times a second,
without stopping it (``--nonblocking``); the raw stacks are kept beside the report and summed
here into the functions the worker spent its samples in: ``self`` (the innermost frame: where
the time itself went) and ``inclusive`` (the service's own functions on the stack at all: which of
its steps the time went through).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SHOWN = 15
RATE = 100


def py_spy() -> str | None:
    """The py-spy binary: the virtualenv's own, else one on PATH, else None."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profile:
    """``py-spy record`` of `pid` for `seconds`, started now, summed by :meth:`finish`."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.pid, self.out = pid, out
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        binary = py_spy()
        if binary is None:
            self.error = "py-spy is not installed (the perf extra: .venv/bin/pip install -e '.[perf]')"
            return
        command = [binary, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", str(RATE)]
        command += ["-f", "raw", "-o", str(out), "--nonblocking", "--full-filenames"]
        self.log = out.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        """End py-spy now (the run failed): no profile."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def finish(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for py-spy and sum its stacks; {"error": why} when there is no profile."""
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.error = f"py-spy did not finish within {timeout:g} s"
            if self.process.returncode and not self.error:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] if self.log.exists() else []
                self.error = f"py-spy exited with {self.process.returncode}: {' '.join(tail)}"
        if self.error:
            return {"error": self.error}
        if not self.out.exists():
            return {"error": "py-spy wrote no profile"}
        return {"pid": self.pid, "file": self.out.name, **summarise(self.out.read_text())}


def summarise(raw: str, shown: int = SHOWN) -> dict[str, Any]:
    """py-spy's raw format (``frame;frame;... count`` per line, outermost first) by function."""
    inner: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        inner[frames[-1]] += count
        for function in set(frames):
            anywhere[function] += count

    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": count, "share": round(count / total, 4)}
            for name, count in counter.most_common(shown)
        ]

    # Inclusive: the service's own functions, less the ones on (nearly) every sample (the worker's
    # main loop), which would fill the table and say nothing.
    ours = Counter({name: count for name, count in anywhere.items() if "(jaan/" in name and count < 0.9 * total})
    return {"samples": total, "self": top(inner), "inclusive": top(ours)}


def _function(frame: str) -> str:
    """``name (path/to/module.py:123)`` -> ``name (module.py)``: one entry per function, not per line."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for root in ("/site-packages/", "/src/"):
        if root in file:
            return f"{name} ({file.rpartition(root)[2]})"
    return f"{name} ({Path(file).name})" if file else name
