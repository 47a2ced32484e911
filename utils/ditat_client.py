"""Ditat TMS client: session or OAuth2 login, lookups with paging, dispatch board, entity detail.

Confidence in the Ditat contract is LOW: Ditat publishes no spec and everything here rests on
third-party client code. So the client is tolerant — paths are configurable (`DitatPaths`), keys
are read case-insensitively, the login token may arrive raw or quoted, an error may arrive inside
an HTTP 200 `{data, error}` envelope — and a 401 triggers exactly one re-login. No database access
(OAuth2 tokens outlive a client through an injected `TokenStore`); credentials and tokens never
appear in logs, reprs or exception messages.

    client = build_ditat_client(get_settings())
    drivers = client.lookup_drivers()                  # list[DitatDriver]
    trips = client.dispatch_board()                    # list[DitatTrip] (stops included)
    shipment = client.shipment("SH-0000010001")        # DitatShipment with .stops
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import httpx

from helpers.errors import UpstreamNotConfigured
from helpers.metrics import count_vendor_request
from helpers.time_utils import parse_vendor_timestamp
from utils.http import (
    VendorAuthError,
    VendorRejectedError,
    VendorResponseError,
    json_body,
    raise_for_status,
    with_retries,
)

VENDOR = "ditat"
DEFAULT_APPLICATION_ROLE = "Login to TMS"
MAX_PAGES = 10_000


class DitatApplicationError(VendorRejectedError):
    """Ditat answered with a non-null `error` in its envelope (possibly at HTTP 200)."""

    def __init__(self, message: str, *, code: Any = None, status: int | None = None) -> None:
        super().__init__(VENDOR, message, status=status)
        self.code = code


@dataclass(frozen=True)
class DitatPaths:
    """Endpoint paths, relative to the base URL (configurable: seen in third-party code only)."""

    login: str = "/api/tms/auth/login"
    oauth_token: str = "/identity-provider/{account_id}/connect/token"  # noqa: S105 (a path)
    lookup: str = "/api/tms/lookup/{entity}"
    dispatch_board: str = "/api/tms/dispatch-board"
    entity: str = "/api/tms/data/{entity}"


class CIDict(Mapping[str, Any]):
    """A read-only mapping whose keys match case-insensitively (`driverId` == `DriverId`)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)
        self._lower = {k.lower(): k for k in self._data}

    def __getitem__(self, key: str) -> Any:
        return self._data[self._lower[key.lower()]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def first(self, *keys: str, default: Any = None) -> Any:
        for key in keys:
            if key in self and self[key] is not None:
                return self[key]
        return default


def ci(value: Any) -> Any:
    """Wrap dicts (recursively, also inside lists) in `CIDict`."""
    if isinstance(value, Mapping):
        return CIDict({k: ci(v) for k, v in value.items()})
    if isinstance(value, list):
        return [ci(v) for v in value]
    return value


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> datetime | None:
    return parse_vendor_timestamp(value, epoch=None) if value else None


@dataclass
class DitatDriver:
    driver_id: str
    first_name: str | None
    last_name: str | None
    status: str | None
    truck_id: str | None
    phone: str | None
    email: str | None
    hired_on: datetime | None
    updated_on: datetime | None
    raw: CIDict = field(repr=False)

    @classmethod
    def from_row(cls, row: CIDict) -> DitatDriver:
        return cls(
            driver_id=str(row["driverId"]),
            first_name=row.get("firstName"),
            last_name=row.get("lastName"),
            status=row.get("status"),
            truck_id=_str(row.get("truckId")),
            phone=row.first("phoneNumber", "phone"),
            email=row.first("emailAddress", "email"),
            hired_on=_time(row.get("hiredOn")),
            updated_on=_time(row.get("updatedOn")),
            raw=row,
        )


@dataclass
class DitatTruck:
    truck_id: str
    truck_key: int | None
    vin: str | None
    status: str | None
    is_active: bool
    primary_driver_id: str | None
    trailer_id: str | None
    raw: CIDict = field(repr=False)

    @classmethod
    def from_row(cls, row: CIDict) -> DitatTruck:
        return cls(
            truck_id=str(row["truckId"]),
            truck_key=row.get("truckKey"),
            vin=row.get("vin"),
            status=row.get("status"),
            is_active=bool(row.first("isActive", default=True)),
            primary_driver_id=_str(row.get("primaryDriverId")),
            trailer_id=_str(row.get("trailerId")),
            raw=row,
        )


@dataclass
class DitatTrailer:
    trailer_id: str
    trailer_key: int | None
    trailer_type: str | None
    is_active: bool
    raw: CIDict = field(repr=False)

    @classmethod
    def from_row(cls, row: CIDict) -> DitatTrailer:
        return cls(
            trailer_id=str(row["trailerId"]),
            trailer_key=row.get("trailerKey"),
            trailer_type=row.get("trailerType"),
            is_active=bool(row.first("isActive", default=True)),
            raw=row,
        )


@dataclass
class DitatStop:
    stop_key: int | None
    sequence: int | None
    stop_type: str | None  # "Pickup" | "Delivery"
    name: str | None
    address: str | None
    city: str | None
    state: str | None
    zip: str | None
    latitude: float | None
    longitude: float | None
    appointment_from: datetime | None
    appointment_to: datetime | None
    arrived_on: datetime | None
    departed_on: datetime | None

    @classmethod
    def from_row(cls, row: CIDict) -> DitatStop:
        return cls(
            stop_key=row.get("stopKey"),
            sequence=row.get("sequence"),
            stop_type=row.get("stopType"),
            name=row.get("name"),
            address=row.first("address1", "address"),
            city=row.first("city", "municipality"),
            state=row.first("state", "administrativeArea"),
            zip=_str(row.first("zip", "postalCode")),
            latitude=row.get("latitude"),
            longitude=row.get("longitude"),
            appointment_from=_time(row.get("appointmentFrom")),
            appointment_to=_time(row.get("appointmentTo")),
            arrived_on=_time(row.get("arrivedOn")),
            departed_on=_time(row.get("departedOn")),
        )


@dataclass
class DitatShipment:
    shipment_id: str
    shipment_key: int | None
    status: str | None
    customer: str | None
    truck_id: str | None
    primary_driver_id: str | None
    trailer_id: str | None
    updated_on: datetime | None
    stops: list[DitatStop]
    raw: CIDict = field(repr=False)

    @classmethod
    def from_row(cls, row: CIDict) -> DitatShipment:
        stops = row.first("dspShipmentStops", "stops", default=[])
        return cls(
            shipment_id=str(row["shipmentId"]),
            shipment_key=row.get("shipmentKey"),
            status=row.get("status"),
            customer=row.get("customer"),
            truck_id=_str(row.get("truckId")),
            primary_driver_id=_str(row.get("primaryDriverId")),
            trailer_id=_str(row.get("trailerId")),
            updated_on=_time(row.get("updatedOn")),
            stops=[DitatStop.from_row(s) for s in stops],
            raw=row,
        )


@dataclass
class DitatTrip:
    trip_key: int | None
    trip_id: str | None
    shipment_id: str | None
    status: str | None
    truck_id: str | None
    primary_driver_id: str | None
    trailer_id: str | None
    stops: list[DitatStop]
    raw: CIDict = field(repr=False)

    @classmethod
    def from_row(cls, row: CIDict) -> DitatTrip:
        return cls(
            trip_key=row.get("tripKey"),
            trip_id=_str(row.get("tripId")),
            shipment_id=_str(row.get("shipmentId")),
            status=row.get("status"),
            truck_id=_str(row.get("truckId")),
            primary_driver_id=_str(row.get("primaryDriverId")),
            trailer_id=_str(row.get("trailerId")),
            stops=[DitatStop.from_row(s) for s in row.first("stops", default=[])],
            raw=row,
        )


# Ditat is said to allow 12 token fetches per sliding hour: a token is reused until this close
# to its expiry (the vendor's own plugin refreshes at 5 minutes too).
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)


class TokenStore(Protocol):
    """Where OAuth2 tokens outlive one client, shared by runs and instances (the database)."""

    def load(self, key: str, valid_at: datetime) -> str | None: ...

    def save(self, key: str, token: str, expires_at: datetime) -> None: ...


class DitatClient:
    """Ditat over an injected `httpx.Client` whose base URL is the Ditat host."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        account_id: str,
        username: str = "",
        password: str = "",
        application_role: str = DEFAULT_APPLICATION_ROLE,
        auth_mode: Literal["token", "oauth2"] = "token",
        client_id: str = "",
        client_secret: str = "",
        token_url: str = "",
        paths: DitatPaths | None = None,
        page_size: int = 500,
        retry_wait: float = 0.5,
        max_retry_wait: float = 8.0,
        token_store: TokenStore | None = None,
    ) -> None:
        self.http = http
        self.account_id = account_id
        self._username = username
        self._password = password
        self.application_role = application_role
        self.auth_mode = auth_mode
        self._client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.paths = paths or DitatPaths()
        self.page_size = page_size
        self.retry_wait = retry_wait
        self.max_retry_wait = max_retry_wait
        self.token_store = token_store
        self._token: str | None = None
        self._lock = threading.Lock()
        self.logins = 0  # tokens asked of Ditat (a stored token reused is not a login)

    def __repr__(self) -> str:
        return f"DitatClient(base_url={str(self.http.base_url)!r}, mode={self.auth_mode!r})"

    # ---- auth ------------------------------------------------------------------------------
    def _login(self, *, refused: str | None = None) -> str:
        if self.auth_mode == "oauth2":
            return self._oauth_token(refused=refused)
        self.logins += 1
        basic = base64.b64encode(f"{self._username}:{self._password}".encode()).decode()
        response = self.http.post(
            self.paths.login,
            headers={
                "Authorization": f"Basic {basic}",
                "Ditat-Account-Id": self.account_id,
                "Ditat-Application-Role": self.application_role,
            },
        )
        if response.status_code in (401, 403):
            raise VendorAuthError(
                VENDOR,
                "login refused: check DITAT_USERNAME, DITAT_PASSWORD, "
                "DITAT_ACCOUNT_ID and DITAT_APPLICATION_ROLE",
                status=response.status_code,
            )
        raise_for_status(VENDOR, response)
        # The token is raw text; some deployments send it as a JSON string literal.
        token = response.text.strip().strip('"').strip()
        if not token:
            raise VendorResponseError(VENDOR, "login returned an empty token")
        return token

    def _oauth_token(self, *, refused: str | None) -> str:
        """A stored token with more than `TOKEN_REFRESH_MARGIN` left, else a new one (stored
        when Ditat says how long it lives). After a 401 (`refused`), a stored token is used
        only if another client already replaced the refused one."""
        key = f"ditat:oauth2:{self.account_id}:{self._client_id}"
        now = datetime.now(UTC)
        if self.token_store is not None:
            stored = self.token_store.load(key, now + TOKEN_REFRESH_MARGIN)
            if stored and stored != refused:
                return stored
        url = self.token_url or self.paths.oauth_token.format(account_id=self.account_id)
        self.logins += 1
        response = self.http.post(
            url,
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        if response.status_code in (400, 401, 403):
            raise VendorAuthError(
                VENDOR,
                "OAuth2 token refused: check DITAT_CLIENT_ID and DITAT_CLIENT_SECRET",
                status=response.status_code,
            )
        raise_for_status(VENDOR, response)
        body = json_body(VENDOR, response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise VendorResponseError(VENDOR, "OAuth2 token response has no access_token")
        lifetime = body.get("expires_in")
        if self.token_store is not None and isinstance(lifetime, int | float) and lifetime > 0:
            self.token_store.save(key, str(token), now + timedelta(seconds=float(lifetime)))
        return str(token)

    def _auth_header(self, *, refresh: bool = False) -> dict[str, str]:
        with self._lock:
            if refresh or self._token is None:
                self._token = self._login(refused=self._token if refresh else None)
            token = self._token
        scheme = "Bearer" if self.auth_mode == "oauth2" else "Ditat-Token"
        return {"Authorization": f"{scheme} {token}", "Ditat-Account-Id": self.account_id}

    # ---- transport -------------------------------------------------------------------------
    def _send_once(self, method: str, path: str, **kwargs: Any) -> Any:
        count_vendor_request(VENDOR)
        response = self.http.request(method, path, headers=self._auth_header(), **kwargs)
        if response.status_code == 401:
            # The session expired: log in again once, then give up.
            count_vendor_request(VENDOR)
            response = self.http.request(
                method, path, headers=self._auth_header(refresh=True), **kwargs
            )
            if response.status_code == 401:
                raise VendorAuthError(VENDOR, f"401 after re-login on {path}", status=401)
        if response.status_code >= 400:
            raise_for_status(VENDOR, response, _error_message(response))
        return _unwrap(json_body(VENDOR, response), path, response.status_code)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call with retries. Ditat's lookups and dispatch board are POSTs that only read,
        so they are idempotent and retried like GETs."""
        return with_retries(
            lambda: self._send_once(method, path, **kwargs),
            vendor=VENDOR,
            initial_wait=self.retry_wait,
            max_wait=self.max_retry_wait,
        )

    # ---- lookups ---------------------------------------------------------------------------
    def lookup_pages(
        self, entity: str, filters: list[dict[str, Any]] | None = None
    ) -> Iterator[list[CIDict]]:
        """Rows of `POST lookup/{entity}` page by page (`pageNumber` from 1) until a short page
        or `totalCount` says we are done."""
        seen = 0
        for number in range(1, MAX_PAGES + 1):
            body = {
                "filterItems": filters or [],
                "pageNumber": number,
                "pageSize": self.page_size,
                "includeTotalCount": True,
            }
            data = self.request("POST", self.paths.lookup.format(entity=entity), json=body)
            rows = data.first("data", "items", default=[]) if isinstance(data, CIDict) else data
            rows = list(rows or [])
            seen += len(rows)
            yield rows
            total = data.get("totalCount") if isinstance(data, CIDict) else None
            if len(rows) < self.page_size or (total is not None and seen >= total):
                return
        raise VendorResponseError(VENDOR, f"lookup {entity} did not end")

    def _lookup(self, entity: str, filters: list[dict[str, Any]] | None) -> list[CIDict]:
        return [row for page in self.lookup_pages(entity, filters) for row in page]

    @staticmethod
    def updated_after_filter(since: datetime) -> dict[str, Any]:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {
            "columnName": "updatedOn",
            "filterType": "After",
            "filterFromValue": stamp,
            "filterToValue": None,
        }

    def lookup_drivers(self, filters: list[dict[str, Any]] | None = None) -> list[DitatDriver]:
        return [DitatDriver.from_row(r) for r in self._lookup("drivers", filters)]

    def lookup_trucks(self, filters: list[dict[str, Any]] | None = None) -> list[DitatTruck]:
        return [DitatTruck.from_row(r) for r in self._lookup("trucks", filters)]

    def lookup_trailers(self, filters: list[dict[str, Any]] | None = None) -> list[DitatTrailer]:
        return [DitatTrailer.from_row(r) for r in self._lookup("trailers", filters)]

    def lookup_shipments(self, filters: list[dict[str, Any]] | None = None) -> list[DitatShipment]:
        return [DitatShipment.from_row(r) for r in self._lookup("shipments", filters)]

    # ---- dispatch board and detail ---------------------------------------------------------
    def dispatch_board(self, board_filter: dict[str, Any] | None = None) -> list[DitatTrip]:
        body: dict[str, Any] = {"UpdateCounter": 0}
        if board_filter:
            body["Filter"] = board_filter
        data = self.request("POST", self.paths.dispatch_board, json=body)
        return [DitatTrip.from_row(t) for t in data.first("trips", default=[])]

    def entity(
        self,
        entity: str,
        *,
        id: str | None = None,
        key: int | None = None,
        include_documents: bool = False,
        include_notes: bool = False,
    ) -> CIDict:
        """`GET data/{entity}?id=|key=` → the `data` object (`entityGraph`, `documents`, …)."""
        if (id is None) == (key is None):
            raise ValueError("pass exactly one of id or key")
        params: dict[str, Any] = {"includeEntityGraph": "true"}
        params["id" if id is not None else "key"] = id if id is not None else key
        if include_documents:
            params["includeDocuments"] = "true"
        if include_notes:
            params["includeNotes"] = "true"
        return self.request("GET", self.paths.entity.format(entity=entity), params=params)

    def shipment(self, shipment_id: str) -> DitatShipment:
        """Shipment detail with its stops (appointment windows, arrivals)."""
        data = self.entity("shipment", id=shipment_id)
        graph = data.first("entityGraph")
        if not graph:
            raise VendorResponseError(VENDOR, f"shipment {shipment_id} has no entityGraph")
        return DitatShipment.from_row(graph)


def _unwrap(body: Any, path: str, status: int) -> Any:
    """The `data` of a `{data, error}` envelope; a non-null `error` raises even at HTTP 200."""
    if not isinstance(body, Mapping):
        raise VendorResponseError(VENDOR, f"unexpected response shape from {path}", status=status)
    envelope = ci(body)
    error = envelope.get("error")
    if error:
        code = error.get("code") if isinstance(error, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else str(error)
        raise DitatApplicationError(f"error {code} on {path}: {message}", code=code, status=status)
    if "data" not in envelope:
        raise VendorResponseError(VENDOR, f"no data in the response from {path}", status=status)
    return envelope["data"]


def _error_message(response: httpx.Response) -> str:
    try:
        error = ci(response.json()).get("error")
    except (ValueError, AttributeError):
        error = None
    message = error.get("message") if isinstance(error, Mapping) else None
    where = f"{response.request.method} {response.request.url.path}"
    return f"HTTP {response.status_code} from {where}" + (f": {message}" if message else "")


def build_ditat_client(settings: Any, **options: Any) -> DitatClient:
    """A client for `settings.DITAT_BASE_URL` in the configured auth mode."""
    mode = settings.DITAT_AUTH_MODE
    if mode == "oauth2":
        missing = [n for n in ("DITAT_ACCOUNT_ID", "DITAT_CLIENT_ID") if not getattr(settings, n)]
        if not settings.DITAT_CLIENT_SECRET.get_secret_value():
            missing.append("DITAT_CLIENT_SECRET")
    else:
        missing = [n for n in ("DITAT_ACCOUNT_ID", "DITAT_USERNAME") if not getattr(settings, n)]
        if not settings.DITAT_PASSWORD.get_secret_value():
            missing.append("DITAT_PASSWORD")
    if missing:
        raise UpstreamNotConfigured(f"Ditat is not configured: set {', '.join(missing)}")
    http = httpx.Client(
        base_url=settings.DITAT_BASE_URL,
        timeout=httpx.Timeout(settings.VENDOR_TIMEOUT_SECONDS, connect=5.0),
        headers={"Accept": "application/json"},
    )
    return DitatClient(
        http,
        account_id=settings.DITAT_ACCOUNT_ID,
        username=settings.DITAT_USERNAME,
        password=settings.DITAT_PASSWORD.get_secret_value(),
        application_role=settings.DITAT_APPLICATION_ROLE or DEFAULT_APPLICATION_ROLE,
        auth_mode=mode,
        client_id=settings.DITAT_CLIENT_ID,
        client_secret=settings.DITAT_CLIENT_SECRET.get_secret_value(),
        token_url=settings.DITAT_TOKEN_URL,
        **options,
    )
