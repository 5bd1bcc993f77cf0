"""The raw floor: the least a JSON-over-HTTP service on our stack can do per request.

Same server (uvicorn, the workers and sockets of `esp-careplans serve`, uvloop/httptools),
same driver (psycopg 3 async), same database and JSON library (orjson); no FHIR, no SQLAlchemy, no
framework beyond bare ASGI. One row per request in `floor_resource(id bigserial, content
jsonb)`. Its throughput is the denominator of every ratio in the report.

    python -m bench.floor --port 8090 --workers 2   (database: BENCH_FLOOR_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from app import serving

DATABASE_ENV = "BENCH_FLOOR_DATABASE_URL"
POOL_SIZE = 10  # the service's engine pool size (app/storage/engine.py)
TABLE_DDL = "CREATE TABLE IF NOT EXISTS floor_resource (id bigserial PRIMARY KEY, content jsonb)"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


set_json_dumps(_dumps)
set_json_loads(orjson.loads)


class Pool:
    """A fixed set of autocommit connections handed out through a queue."""

    def __init__(self, url: str, size: int = POOL_SIZE) -> None:
        self.url = url
        self.size = size
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self.opened = 0

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            return await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        return await self.idle.get()

    def release(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.idle.put_nowait(conn)

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Floor:
    """`POST /floor` inserts the JSON body; `GET /floor/<id>` returns it; `GET /healthz`."""

    def __init__(self, url: str) -> None:
        self.pool = Pool(url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        method, path = scope["method"], scope["path"]
        if path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
        elif method == "POST" and path == "/floor":
            document = orjson.loads(await _body(receive))
            conn = await self.pool.acquire()
            try:
                cur = await conn.execute(
                    "INSERT INTO floor_resource (content) VALUES (%s) RETURNING id",
                    (Jsonb(document),),
                )
                row = await cur.fetchone()
            finally:
                self.pool.release(conn)
            document["id"] = str(row[0] if row else "")
            await _respond(send, 201, orjson.dumps(document))
        elif method == "GET" and path.startswith("/floor/") and path[7:].isdigit():
            conn = await self.pool.acquire()
            try:
                cur = await conn.execute(
                    "SELECT content FROM floor_resource WHERE id = %s", (int(path[7:]),)
                )
                row = await cur.fetchone()
            finally:
                self.pool.release(conn)
            if row is None:
                await _respond(send, 404, b'{"error":"not found"}')
            else:
                await _respond(send, 200, orjson.dumps(row[0]))
        else:
            await _respond(send, 404, b'{"error":"no route"}')

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> Floor:
    """Factory for uvicorn (`--factory bench.floor:create_app`)."""
    return Floor(os.environ[DATABASE_ENV])


def create_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE_DDL)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    # The same uvicorn options and the same workers as `esp-careplans serve` (app/cli.py):
    # one SO_REUSEPORT socket per worker, loopback only.
    options: dict[str, Any] = {
        "factory": True,
        "host": args.host,
        "port": args.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 20,
        "proxy_headers": True,
    }
    if args.workers > 1 and serving.available():
        return serving.run("bench.floor:create_app", args.workers, **options)
    uvicorn.run("bench.floor:create_app", workers=args.workers, **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
