"""Server processes on free loopback ports, and what /proc says about their workers."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the harness dies, even by SIGKILL (a test's
    timeout), so no server outlives its run (prctl(2) PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A started server: its process, base URL and log file."""

    name: str
    process: subprocess.Popen[bytes]
    root: str  # http://127.0.0.1:port
    log_path: Path
    log: IO[bytes]

    def workers(self) -> list[int]:
        """The uvicorn worker pids: children of the server (itself with one worker), less
        multiprocessing's resource tracker."""
        found = [pid for pid in children(self.process.pid) if not _is_resource_tracker(pid)]
        return found or [self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB (0 when it is gone)."""
    out = {"rss_kib": 0, "peak_kib": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                out["peak_kib"] = int(line.split()[1])
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (/proc/<pid>/stat fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def snapshot(server: Server) -> dict[str, Any]:
    """Per-worker memory and CPU of a server right now."""
    return {str(pid): {**memory_kib(pid), "cpu_s": cpu_seconds(pid)} for pid in server.workers()}


def start(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str,
    log_dir: Path,
    workers: int,
    timeout: float = 60.0,
    cwd: Path = ROOT,
) -> Server:
    """Start `command` and wait until `ready_path` answers 200 and every worker is up."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed by Server.stop
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"{name} exited with {process.returncode}: see {log_path}")
        try:
            ok = httpx.get(server.root + ready_path, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok and (workers <= 1 or len(server.workers()) >= workers):
            # Every worker answers once before measuring (imports, pools, caches).
            for _ in range(workers * 4):
                httpx.get(server.root + ready_path, timeout=5.0)
            return server
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"{name} did not become ready in {timeout} s: see {log_path}")


def python() -> str:
    return sys.executable


ESTABLISHED, LISTEN = "01", "0A"  # TCP states in /proc/net/tcp (include/net/tcp_states.h)


def _socket_inodes(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets in `state` whose local port is `port` (for ESTABLISHED:
    the server side of its connections), from /proc/net/tcp and tcp6 (proc(5))."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def connections(port: int, pids: list[int], state: str = ESTABLISHED) -> dict[int, int]:
    """How many connections on `port` each process holds open (state LISTEN: its listening
    sockets): which worker accepted which connection, read from /proc, so the server
    needs to expose nothing."""
    inodes = _socket_inodes(port, state)
    held: dict[int, int] = {}
    for pid in pids:
        count = 0
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                count += 1
        held[pid] = count
    return held
