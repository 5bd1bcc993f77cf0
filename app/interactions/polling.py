"""The loop of a background worker: a round, then a wait for the next poll or a nudge.

Shared by the subscription delivery worker and the export worker; a failing round is
logged and the next poll tries again (the database may be restarting).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable


def worker_name() -> str:
    """A name no other worker has: host, process and a random part (lease owners)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"[:64]


async def work_until(
    stop: asyncio.Event,
    run_once: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    poll_seconds: float,
    log: logging.Logger,
) -> None:
    """Run rounds until `stop` is set; a busy round is followed at once by the next."""
    while not stop.is_set():
        try:
            busy = await run_once()
        except Exception:  # the worker must outlive a bad round (database restart...)
            log.exception("worker round failed")
            busy = 0
        if busy:
            continue
        wake.clear()
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
        await asyncio.wait(waits, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
