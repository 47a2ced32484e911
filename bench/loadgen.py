"""A lean HTTP/1.1 keep-alive load generator for the benchmarks.

httpx's async client tops out near 200 req/s with 128 connections on this 2-core machine (its
own p99 was ~5 s against a trivial endpoint), so it measured itself, not the server. This one
writes raw requests on persistent connections and parses only the status line, headers and a
`Content-Length` body.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    elapsed: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)

    def merge(self, other: LoadResult) -> LoadResult:
        self.latencies.extend(other.latencies)
        self.elapsed += other.elapsed
        self.statuses.update(other.statuses)
        return self

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000

    def line(self) -> str:
        return (
            f"{self.rps:8.0f} req/s  p50 {self.p50_ms:8.1f} ms  p99 {self.p99_ms:8.1f} ms  "
            f"{dict(self.statuses)}"
        )


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bool]:
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split()[1])
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def drive(
    port: int,
    paths: Sequence[str],
    *,
    clients: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> LoadResult:
    """`clients` connections, each sending requests back to back for `seconds`."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode() for path in paths
    ]
    return await drive_raw(port, requests, clients=clients, seconds=seconds, timeout=timeout)


def post_request(port: int, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """One raw `POST` (JSON body) for `drive_raw`."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


async def drive_raw(
    port: int,
    requests: Sequence[bytes],
    *,
    clients: int,
    seconds: float,
    timeout: float = 15.0,
) -> LoadResult:
    """Like `drive`, for prepared raw requests; client n sends requests n+1, n+1+clients, …
    so every request of the list is sent once before any repeats (with enough of them)."""
    result = LoadResult()
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        i = n - clients
        while time.monotonic() < deadline:
            i += clients
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                status, close = await asyncio.wait_for(
                    _request(*conn, requests[i % len(requests)]), timeout
                )
            except TimeoutError:
                result.statuses["client timeout"] += 1
                close = True
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                result.statuses[type(exc).__name__] += 1
                close = True
            else:
                result.statuses[str(status)] += 1
                if status == 200:
                    result.latencies.append(time.perf_counter() - started)
            if close and conn is not None:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    result.elapsed = time.perf_counter() - started
    return result
