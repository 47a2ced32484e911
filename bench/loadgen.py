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
    body_bytes: int = 0  # response bodies of successful requests

    def merge(self, other: LoadResult) -> LoadResult:
        self.latencies.extend(other.latencies)
        self.elapsed += other.elapsed
        self.statuses.update(other.statuses)
        self.body_bytes += other.body_bytes
        return self

    @property
    def bytes_per_response(self) -> float:
        return self.body_bytes / len(self.latencies) if self.latencies else 0.0

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
) -> tuple[int, bool, int]:
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
    return status, close, length


async def drive(
    port: int,
    paths: Sequence[str],
    *,
    clients: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    path_headers: Mapping[str, Mapping[str, str]] | None = None,
    ok: tuple[int, ...] = (200,),
    timeout: float = 15.0,
) -> LoadResult:
    """`clients` connections, each sending requests back to back for `seconds`.

    `path_headers` adds headers to one path's requests (e.g. its `If-None-Match`); responses
    with a status in `ok` count as successful.
    """

    def raw(path: str) -> bytes:
        extra = (path_headers or {}).get(path) or {}
        return get_request(port, path, {**(headers or {}), **extra})

    requests = [raw(path) for path in paths]
    return await drive_raw(port, requests, clients=clients, seconds=seconds, ok=ok, timeout=timeout)


def get_request(port: int, path: str, headers: Mapping[str, str]) -> bytes:
    """One raw `GET` for `drive_raw` / `drive_rate`."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()


def post_request(
    port: int,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    content_type: str = "application/json",
) -> bytes:
    """One raw `POST` (a JSON body unless `content_type` says otherwise) for `drive_raw`."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


class _Connection:
    """One keep-alive connection that reopens after the server closes it or an error."""

    def __init__(self, port: int, result: LoadResult, ok: tuple[int, ...], timeout: float):
        self.port, self.result, self.ok, self.timeout = port, result, ok, timeout
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, raw: bytes, started: float) -> None:
        """Send `raw` and record its status; a success's latency counts from `started`."""
        result = self.result
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            status, close, length = await asyncio.wait_for(
                _request(*self.streams, raw), self.timeout
            )
        except TimeoutError:
            result.statuses["client timeout"] += 1
            close = True
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            result.statuses[type(exc).__name__] += 1
            close = True
        else:
            result.statuses[str(status)] += 1
            if status in self.ok:
                result.latencies.append(time.perf_counter() - started)
                result.body_bytes += length
        if close:
            self.close()

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def drive_raw(
    port: int,
    requests: Sequence[bytes],
    *,
    clients: int,
    seconds: float,
    ok: tuple[int, ...] = (200,),
    timeout: float = 15.0,
) -> LoadResult:
    """Like `drive`, for prepared raw requests; client n sends requests n+1, n+1+clients, …
    so every request of the list is sent once before any repeats (with enough of them)."""
    result = LoadResult()
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        connection = _Connection(port, result, ok, timeout)
        i = n - clients
        while time.monotonic() < deadline:
            i += clients
            await connection.send(requests[i % len(requests)], time.perf_counter())
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    result.elapsed = time.perf_counter() - started
    return result


async def drive_rate(
    port: int,
    requests: Sequence[bytes],
    *,
    rate: float,
    seconds: float,
    connections: int = 128,
    ok: tuple[int, ...] = (200,),
    timeout: float = 15.0,
) -> LoadResult:
    """Offer `rate` requests/s for `seconds` (open loop, as webhooks arrive), in list order.

    Request k is due at k / rate; the next free connection sends it then (or as soon as one is
    free) and its latency counts from when it was due, so a server falling behind shows as
    latency instead of quietly lowering the offered rate (coordinated omission).
    """
    result = LoadResult()
    total = int(rate * seconds)
    origin = time.perf_counter() + 0.05
    next_due = 0

    async def client() -> None:
        nonlocal next_due
        connection = _Connection(port, result, ok, timeout)
        while next_due < total:
            k, next_due = next_due, next_due + 1
            due = origin + k / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            await connection.send(requests[k % len(requests)], due)
        connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    result.elapsed = time.perf_counter() - origin
    return result
