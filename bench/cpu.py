"""PostgreSQL's CPU during a phase, from /proc (local PostgreSQL only).

Every backend, parallel worker and auxiliary process is a child of the postmaster; one
that exits during a phase (a parallel worker lives for one query) is reaped by it, and
its CPU moves into the postmaster's cutime/cstime (proc(5) fields 16-17). So the CPU
PostgreSQL spent in a phase is the change, over the phase, of the CPU of the live children
plus the postmaster's own and its reaped children's. The live backends of other clients
(other sessions' tests on a shared machine) are told apart by `application_name` and
left out; what they spent in backends that also exited during the phase cannot be, and
stays in (`other_clients_cpu_s` says how busy they were).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.servers import children

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


@dataclass
class Snapshot:
    own: float = 0.0  # live children + postmaster + reaped, less other clients' backends
    other: dict[int, float] = field(default_factory=dict)  # other clients' live backends


class PostgresCpu:
    """CPU accounting for the PostgreSQL cluster behind `url`, when it runs on this host;
    `tag` is the application_name of the run's own connections (service, floor, loads)."""

    def __init__(self, url: str, tag: str) -> None:
        self.url = url
        self.tag = tag
        self.postmaster = 0
        # One connection for the whole run: a connection per snapshot would be a backend
        # exiting inside the phase, its start-up CPU counted as the run's.
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        fields = _stat(int(row[0])) if row else None
        # Our backend's parent is the postmaster, if it runs here (same pid namespace).
        if fields and b"postgres" in self._cmdline(int(fields[1])):
            self.postmaster = int(fields[1])

    def close(self) -> None:
        self.conn.close()

    @property
    def available(self) -> bool:
        return self.postmaster > 0

    @staticmethod
    def _cmdline(pid: int) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    def _other_backends(self) -> set[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND application_name IS DISTINCT FROM %s AND pid <> pg_backend_pid()",
            (self.tag,),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def snapshot(self) -> Snapshot | None:
        if not self.available:
            return None
        others = self._other_backends()
        master = _stat(self.postmaster)
        if master is None:
            return None
        total = sum(int(master[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        snap = Snapshot()
        for pid in children(self.postmaster):
            fields = _stat(pid)
            if fields is None:
                continue
            ticks = int(fields[11]) + int(fields[12])
            if pid in others:
                snap.other[pid] = ticks / CLK_TCK
            else:
                total += ticks
        snap.own = total / CLK_TCK
        return snap

    @staticmethod
    def delta(before: Snapshot | None, after: Snapshot | None) -> dict[str, Any]:
        """The phase's PostgreSQL CPU (None when PostgreSQL is not on this host)."""
        if before is None or after is None:
            return {"cpu_s": None, "other_clients_cpu_s": None}
        # A backend that was an other client's at the start and is not counted as such
        # at the end (it exited) moved into the postmaster's reaped time: take it out.
        gone = sum(cpu for pid, cpu in before.other.items() if pid not in after.other)
        other = sum(cpu - before.other.get(pid, 0.0) for pid, cpu in after.other.items())
        return {
            "cpu_s": round(max(0.0, after.own - before.own - gone), 3),
            "other_clients_cpu_s": round(other, 3),
        }
