"""What a process and all its descendants cost, sampled from /proc while they run (Linux).

The robot runs its outbox sender as a forked child (service/send_process.py): a figure of the main process
alone would leave the sender out.  Two sums over the tree, from /proc/PID/smaps_rollup:
  tree_mb  the main process's RSS plus the private memory (USS: Private_Clean + Private_Dirty) of every
           process below it.  What the child shares with the daemon is in the daemon's RSS already; what it
           has on its own (the pages either of them wrote since the fork: copy-on-write) is added.  For one
           process alone this is its RSS, the figure bench/memory.py printed before the sender process.
  pss_mb   the sum of PSS: a page shared by n processes counts 1/n to each.  Smaller, but it also moves
           with unrelated processes that map the same libraries (other Pythons on the machine).
Each process's CPU (user + system) and peak RSS (VmHWM) are kept from its last sample.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    pid: int
    name: str = ""
    cpu_s: float = 0.0  # user + system, at the last sample
    peak_rss_mb: float = 0.0  # VmHWM: the kernel's own peak
    rss_mb: float = 0.0
    uss_mb: float = 0.0
    pss_mb: float = 0.0


@dataclass
class Sample:
    tree_mb: float = 0.0
    pss_mb: float = 0.0


@dataclass
class TreeSampler:
    """Samples `pid` and its descendants every `interval` s in a thread.  With `skip_root`, `pid` is a
    wrapper that is not measured and its child is the main process."""

    pid: int
    interval: float = 0.05
    skip_root: bool = False
    procs: dict[int, Proc] = field(default_factory=dict)
    peak: Sample = field(default_factory=Sample)  # the largest of each sum over the samples
    last: Sample = field(default_factory=Sample)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> Sample:
        """One sample of the tree now (MB)."""
        now = Sample()
        for depth, pid in self._tree():
            proc = self.procs.setdefault(pid, Proc(pid))
            if not _read(proc):
                continue
            now.tree_mb += proc.rss_mb if depth == 0 else proc.uss_mb
            now.pss_mb += proc.pss_mb
        self.last = now
        self.peak = Sample(max(self.peak.tree_mb, now.tree_mb), max(self.peak.pss_mb, now.pss_mb))
        return now

    def _tree(self) -> list[tuple[int, int]]:
        """(depth, pid) of each process, the main one at depth 0."""
        found: list[tuple[int, int]] = []
        todo = [(-1, c) for c in _children(self.pid)] if self.skip_root else [(0, self.pid)]
        while todo:
            depth, pid = todo.pop()
            found.append((max(depth, 0), pid))
            todo += [(max(depth, 0) + 1, c) for c in _children(pid)]
        return found

    def report(self) -> list[dict[str, object]]:
        """Each process seen: name, CPU seconds and peak RSS (last sample before it ended)."""
        return [
            {"pid": p.pid, "name": p.name, "cpu_s": round(p.cpu_s, 2), "peak_rss_mb": round(p.peak_rss_mb, 1)}
            for p in self.procs.values()
        ]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def _read(proc: Proc) -> bool:
    """Refresh `proc` from /proc; False once it is gone (its last figures stay)."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rollup = _fields(Path(f"/proc/{proc.pid}/smaps_rollup").read_text())
    except OSError:
        return False
    if "Rss" not in rollup:  # a zombie: gone but not reaped yet
        return False
    name, _, rest = stat[stat.index("(") + 1 :].rpartition(")")
    fields = rest.split()
    proc.name = name
    proc.cpu_s = (int(fields[11]) + int(fields[12])) / TICK
    proc.peak_rss_mb = max(proc.peak_rss_mb, _fields(status).get("VmHWM", 0) / 1024)
    proc.rss_mb = rollup["Rss"] / 1024
    proc.uss_mb = (rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)) / 1024
    proc.pss_mb = rollup.get("Pss", 0) / 1024
    return True


def _fields(text: str) -> dict[str, int]:
    """`Key:  123 kB` lines as {Key: 123}."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            found[key] = int(parts[0])
    return found
