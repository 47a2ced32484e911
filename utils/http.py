"""What every vendor client shares: the error classes, the retry policy and a sane httpx.Client.

Retries: 3 attempts with exponential backoff and jitter, only for transient failures (network
errors, 429, 5xx) and only for idempotent requests. A 429's `Retry-After` (which may be
fractional, e.g. "0.25") is honoured instead of the backoff when present.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from helpers.errors import UpstreamNotConfigured
from helpers.metrics import count_vendor_request

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 30.0


class VendorError(Exception):
    """A vendor call failed; `vendor` names who, `status` is the HTTP status if any."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None) -> None:
        self.vendor = vendor
        self.status = status
        super().__init__(f"{vendor}: {message}")


class VendorTransientError(VendorError):
    """Network trouble, rate limiting or a vendor outage: the same request may work later."""

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(vendor, message, status=status)
        self.retry_after = retry_after


class VendorRejectedError(VendorError):
    """The vendor refused the request (4xx, or an error envelope): fix it, do not retry."""


class VendorAuthError(VendorRejectedError):
    """Credentials missing or refused."""


class VendorResponseError(VendorTransientError):
    """The vendor answered with something we cannot parse (malformed JSON, wrong shape)."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; fractional values are allowed, dates are ignored."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def raise_for_status(vendor: str, response: httpx.Response, message: str | None = None) -> None:
    """Map an HTTP error status to a transient or rejected error (never leaking credentials)."""
    status = response.status_code
    if status < 400:
        return
    detail = message or f"HTTP {status} from {response.request.method} {response.request.url.path}"
    if status == 429:
        raise VendorTransientError(
            vendor,
            detail,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500:
        raise VendorTransientError(vendor, detail, status=status)
    if status in (401, 403):
        raise VendorAuthError(vendor, detail, status=status)
    raise VendorRejectedError(vendor, detail, status=status)


def json_body(vendor: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise VendorResponseError(
            vendor, f"malformed JSON from {response.request.url.path}", status=response.status_code
        ) from None


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, VendorTransientError):
        return True
    return isinstance(exc, httpx.TransportError)


def _wait(backoff: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, VendorTransientError) and exc.retry_after is not None:
            return exc.retry_after
        return backoff(state)

    return wait


def with_retries(
    call: Callable[[], T],
    *,
    vendor: str,
    attempts: int = MAX_ATTEMPTS,
    initial_wait: float = 0.5,
    max_wait: float = 8.0,
    retry_if: Callable[[BaseException], bool] = _is_retryable,
) -> T:
    """Run `call` with the shared retry policy; network errors surface as VendorTransientError."""
    retrying = Retrying(
        retry=retry_if_exception(retry_if),
        stop=stop_after_attempt(attempts),
        wait=_wait(wait_random_exponential(multiplier=initial_wait, max=max_wait)),
        reraise=True,
    )
    try:
        return retrying(call)
    except httpx.TimeoutException:
        raise VendorTransientError(vendor, "timed out") from None
    except httpx.TransportError as exc:
        raise VendorTransientError(vendor, f"network error: {type(exc).__name__}") from None


def is_unsent_error(exc: BaseException) -> bool:
    """True when the request provably never reached the vendor (safe to retry a create)."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def create_is_retryable(exc: BaseException) -> bool:
    """True when a create may be sent again: the vendor never saw it, or refused it with a 429."""
    if is_unsent_error(exc):
        return True
    return isinstance(exc, VendorTransientError) and exc.status == 429


class VendorJsonClient:
    """Base for a JSON vendor client over one httpx.Client, every call under the retry policy.

    Subclasses set `vendor`, and override `_error_message` (the vendor's own words for an error
    body) or `_request` (one attempt) when the vendor reports errors its own way.
    """

    vendor: ClassVar[str]

    def __init__(self, http: httpx.Client, *, retry_wait: float = 0.5) -> None:
        self._http = http
        self._retry_wait = retry_wait

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        retry_if: Callable[[BaseException], bool] = _is_retryable,
        **kwargs: Any,
    ) -> Any:
        """`_request` retried under the shared policy, starting from this client's wait."""
        return with_retries(
            lambda: self._request(method, path, **kwargs),
            vendor=self.vendor,
            initial_wait=self._retry_wait,
            retry_if=retry_if,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP attempt, counted per vendor (`fleet_vendor_requests_total` in /metrics)."""
        count_vendor_request(self.vendor)
        return self._http.request(method, path, **kwargs)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        raise_for_status(self.vendor, response, self._error_message(response))
        return json_body(self.vendor, response)

    @staticmethod
    def _error_message(response: httpx.Response) -> str | None:
        return None


def required_credential(settings: Any, setting: str, *, vendor: str) -> str:
    """The secret `settings.<setting>`, or UpstreamNotConfigured when it is empty."""
    value = getattr(settings, setting).get_secret_value()
    if not value:
        raise UpstreamNotConfigured(f"{vendor} is not configured: set {setting}")
    return value


def build_http_client(base_url: str, *, timeout: float, headers: dict[str, str] | None = None):
    """An httpx.Client with a base URL and a timeout on every phase."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers=headers or {},
    )
