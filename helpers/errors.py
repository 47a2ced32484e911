"""The application's error family: each error carries an HTTP status and a stable `code`.

One handler (services/http/errors.py) renders them as `{"error": code, "detail": message}`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.detail = detail or self.default_detail()
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)

    @classmethod
    def default_detail(cls) -> str:
        return cls.code.replace("_", " ")


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unprocessable(AppError):
    """A request that parses but cannot be done as asked: rendered like every other 422, as
    `validation_error` with one `errors` entry naming the field (`loc`); a subclass's own
    `code` becomes that entry's `type` (e.g. `invalid_phone_number`)."""

    status_code = 422
    code = "value_error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        loc: tuple[str | int, ...] = ("body",),
        input: Any = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, **extra)
        self.loc = loc
        self.input = input


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 60, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


class UpstreamUnavailable(ServiceUnavailable):
    """A vendor API is down, slow or rate limiting us; trying later may work."""

    code = "upstream_unavailable"


class UpstreamNotConfigured(ServiceUnavailable):
    """A vendor integration lacks the setting it needs (named in the detail)."""

    code = "upstream_not_configured"
