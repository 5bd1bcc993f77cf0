"""Several uvicorn worker processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's supervisor binds one socket in the parent and hands it to every worker, so all
workers wait on one accept queue; asyncio accepts every pending connection when it wakes
(`BaseSelectorEventLoop._accept_connection` loops up to the backlog), so whichever worker
wakes first takes a burst of keep-alive connections and keeps them: with 16 connections
one worker did 87-100 % of the CPU (issue #14). With SO_REUSEPORT each worker has its own
listening socket and accept queue, and the kernel spreads new connections over them by a
hash of the connection's addresses (socket(7), Linux >= 3.9); docs/scaling.md has the
measurements and the alternatives.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

logger = logging.getLogger("uvicorn.error")
STARTUP_FAILURE = 3  # uvicorn.config.STARTUP_FAILURE: the app or the socket cannot start
STOP_SECONDS = 30.0  # after the workers' own graceful shutdown (timeout_graceful_shutdown)
POLL_SECONDS = 0.5


def available() -> bool:
    """SO_REUSEPORT with load distribution (Linux); elsewhere uvicorn's own supervisor."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that shares the port with the other workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def claim_port(host: str, port: int) -> socket.socket:
    """An exclusive claim on (host, port) for this server's lifetime: SO_REUSEPORT would
    let a second server of the same user join the port silently instead of failing, so
    the claim is an abstract Unix socket named after the address (unix(7): per network
    namespace, like ports, and released when the process dies)."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0esp-careplans-serve-{host}-{port}")
    except OSError:
        lock.close()
        raise
    return lock


def _worker(config: uvicorn.Config) -> None:
    """One worker process: its own socket, one uvicorn server (it listens on `run`)."""
    config.configure_logging()
    try:
        sock = reuse_port_socket(config.host, config.port)
    except OSError as exc:
        logger.error("cannot bind %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


def run(app: str, workers: int, **options: Any) -> int:
    """Serve `app` (uvicorn options as for `uvicorn.run`) with `workers` processes; a worker
    that dies is replaced, one that cannot start stops the server. SIGINT or SIGTERM stop
    every worker gracefully. Returns the exit status."""
    config = uvicorn.Config(app, workers=1, **options)
    try:
        # Held (bound, never listening) until the end; taken by a socket without
        # SO_REUSEPORT the port fails here, as uvicorn's own bind would.
        holder = reuse_port_socket(config.host, config.port)
        config.port = int(holder.getsockname()[1])
        claim = claim_port(config.host, config.port)
    except OSError as exc:
        logger.error("cannot bind %s:%s: %s", config.host, config.port, exc)
        return STARTUP_FAILURE
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    spawn = multiprocessing.get_context("spawn")

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(config,), name="esp-careplans-worker")
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    logger.info(
        "serving on %s:%s with %d workers (SO_REUSEPORT), pids %s",
        config.host,
        config.port,
        workers,
        [p.pid for p in processes],
    )
    status = 0
    while not stop.wait(POLL_SECONDS):
        for index, process in enumerate(processes):
            if process.is_alive():
                continue
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker %s failed to start; stopping", process.pid)
                status = STARTUP_FAILURE
                stop.set()
                break
            logger.warning(
                "worker %s exited with %s; starting another", process.pid, process.exitcode
            )
            processes[index] = start()
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
    holder.close()
    claim.close()
    return status
