"""The one HTTP client of every connector.

A `requests.Session` with a timeout on every call; retries with exponential back-off and full
jitter on connection errors, timeouts, 5xx and (for JSON calls) 2xx bodies that are not JSON;
429s wait as long as the vendor asks (`Retry-After`, HubSpot's `X-HubSpot-RateLimit-*`,
Salesforce's `REQUEST_LIMIT_EXCEEDED`); a request budget per run; and logs that carry the method,
path and status but never a header, body or secret. Every request, "next" URLs included, first
passes the connection's HostPolicy (integrations/hosts.py), and redirects are never followed.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from cs_platform.webhooks.ssrf import UnsafeTargetError
from integrations.hosts import HostPolicy, UnsafeHostError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Query parameters that may carry a secret; their values are masked in logs and errors.
SECRET_PARAMS = frozenset(
    {"access_token", "api_key", "apikey", "client_secret", "key", "password", "token", "writekey"}
)


class IntegrationError(Exception):
    """Anything that stops a connector from talking to its vendor."""


class AuthFailedError(IntegrationError):
    """The vendor refused the credentials (401, or 403 that is not a rate limit)."""


class RateLimitedError(IntegrationError):
    """The vendor asked to wait longer than a run should (a daily limit, say)."""


class RefusedHostError(IntegrationError):
    """The URL is not one this connection's credentials may go to (integrations/hosts.py)."""


class BudgetExhaustedError(IntegrationError):
    """This run used up the connection's request budget."""


class VendorError(IntegrationError):
    """The vendor kept failing, answered an unexpected status, or sent malformed JSON."""


class MalformedResponseError(VendorError):
    """A 2xx whose body is not JSON, still so after the retries. Bad input, not a broken
    connection: the run stops at its last committed page and the next run resumes there."""


@dataclass
class RetryPolicy:
    attempts: int = 5  # tries per request, the first included
    backoff_seconds: float = 0.5  # base of the exponential back-off
    max_backoff_seconds: float = 30.0
    max_wait_seconds: float = 300.0  # a longer Retry-After gives up with RateLimitedError


def host_and_port(parts: SplitResult) -> str:
    """The URL's host with its port (if any) and without credentials; IPv6 stays bracketed."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: not worth showing
        port = None
    return host if port is None else f"{host}:{port}"


def redact_url(url: str) -> str:
    """The URL without credentials and with secret-looking query values masked, for logs."""
    parts = urlsplit(url)
    query = [
        (name, "***" if name.lower() in SECRET_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*"), netloc=host_and_port(parts)))


def shown_url(url: str) -> str:
    """scheme://host:port/path of the URL, for error messages people read: no credentials, no
    query string, no fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, host_and_port(parts), parts.path, "", ""))


def retry_after_seconds(response: requests.Response) -> float | None:
    """How long the vendor asks to wait: Retry-After (seconds or HTTP date) or HubSpot's window."""
    header = response.headers.get("Retry-After")
    if header:
        if header.strip().isdigit():
            return float(header)
        when = email.utils.parsedate_to_datetime(header)
        return max(0.0, when.timestamp() - time.time())
    interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval and interval.isdigit():
        return int(interval) / 1000
    return None


def salesforce_limit(response: requests.Response) -> str | None:
    """The message of a Salesforce REQUEST_LIMIT_EXCEEDED error body, if that is what this is."""
    if response.status_code != 403:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body if isinstance(body, list) else [body]
    for error in errors:
        if isinstance(error, dict) and error.get("errorCode") == "REQUEST_LIMIT_EXCEEDED":
            return str(error.get("message", "request limit exceeded"))
    return None


def oauth_error(response: requests.Response) -> str | None:
    """The OAuth 2 error code of a refused token request (RFC 6749 5.2), if that is what this is."""
    if response.status_code not in (400, 401):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if error in ("invalid_client", "invalid_grant", "unauthorized_client") else None


MALFORMED = object()  # what json_body gives for a body that is not JSON


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or MALFORMED (truncated, HTML from a proxy, empty)."""
    try:
        return response.json()
    except ValueError:
        return MALFORMED


def malformed_message(url: str, status: int, attempt: int) -> str:
    """The error of a body that stayed malformed, naming where it came from."""
    tries = f" after {attempt} tries" if attempt > 1 else ""
    return f"malformed JSON from {shown_url(url)} ({status}){tries}"


def redirect_message(url: str, response: requests.Response) -> str:
    """The error of a redirect: never followed, since a 307 would carry a POSTed secret along."""
    location = response.headers.get("Location")
    target = f"to {shown_url(urljoin(url, location))}" if location else "without a Location"
    return (
        f"{response.status_code} from {shown_url(url)}: redirected {target}; redirects are "
        "not followed, so credentials stay on the connection's host (if the vendor moved, "
        "set the base URL to its new address)"
    )


@dataclass
class HttpClient:
    """HTTP for one connection's run; `sleep` and `rng` are injectable for tests and benches."""

    base_url: str
    auth: requests.auth.AuthBase | None = None
    timeout: float = 30.0
    budget: int = 10_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Called once on a 401 to get fresh credentials (OAuth); returns the new auth.
    reauthenticate: Callable[[], requests.auth.AuthBase] | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    session: requests.Session = field(default_factory=requests.Session)
    # Where the credentials may go; checked before every request, "next" URLs included. Required:
    # a client without a policy cannot be built, so no connector can skip the check.
    hosts: HostPolicy = field(kw_only=True)
    requests_made: int = 0
    waited_seconds: float = 0.0  # time spent waiting on the vendor's rate limits and back-off
    _refreshing: bool = field(default=False, init=False, repr=False)

    def url(self, path: str) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET and decode JSON."""
        return self.request_json("GET", path, **kwargs)[1]

    def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        """POST a JSON body and decode the JSON answer."""
        return self.request_json("POST", path, json=body, **kwargs)[1]

    def request_json(self, method: str, path: str, **kwargs: Any) -> tuple[requests.Response, Any]:
        """`request` whose answer must be JSON: the response (for its headers) and its body.

        A 2xx body that is not JSON is retried with the back-off of a 5xx, because vendors send
        truncated bodies under load; MalformedResponseError once the tries are used up."""
        return self._exchange(method, path, True, kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One logical request, retried and rate-limit aware; returns a 2xx response."""
        return self._exchange(method, path, False, kwargs)[0]

    def _exchange(
        self, method: str, path: str, as_json: bool, kwargs: dict[str, Any]
    ) -> tuple[requests.Response, Any]:
        """The retry loop behind `request` and `request_json`; a 2xx is final unless `as_json`
        and its body is malformed."""
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        self._check_host(url)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response = self._send(method, url, attempt, **kwargs)
            if response is not None and response.ok:
                body = json_body(response) if as_json else None
                if body is not MALFORMED:
                    self._respect_remaining(response)
                    return response, body
            elif (
                response is not None
                and response.status_code == 401
                and self._can_refresh(refreshed)
            ):
                refreshed = True
                self._refresh()
                continue
            self._raise_unless_retryable(response, url, attempt)
            self._wait(self._delay(response, attempt))

    def _check_host(self, url: str) -> None:
        try:
            self.hosts.check(url)
        except UnsafeHostError as exc:
            log.warning("refused host", extra={"url": shown_url(url)})
            raise RefusedHostError(f"refused to send credentials: {exc}") from None

    def _send(self, method: str, url: str, attempt: int, **kwargs: Any) -> requests.Response | None:
        if self.requests_made >= self.budget:
            raise BudgetExhaustedError(f"request budget of {self.budget} used up")
        self.requests_made += 1
        started = time.perf_counter()
        safe_url = redact_url(url)
        try:
            response = self.session.request(
                method, url, auth=self.auth, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except UnsafeTargetError as exc:  # the SSRF guard: the host resolved to a private address
            raise RefusedHostError(f"refused to connect to {shown_url(url)}: {exc}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            log.warning(
                "http error",
                extra={"method": method, "url": safe_url, "attempt": attempt, "error": type(exc)},
            )
            if attempt >= self.retry.attempts:
                raise VendorError(
                    f"{method} {shown_url(url)} failed after {attempt} tries: {type(exc).__name__}"
                ) from None
            return None
        log.debug(
            "http",
            extra={
                "method": method,
                "url": safe_url,
                "status": response.status_code,
                "attempt": attempt,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        if 300 <= response.status_code < 400:  # requests counts these as ok
            raise VendorError(redirect_message(url, response))
        return response

    def _can_refresh(self, refreshed: bool) -> bool:
        """Once per request, and never for a request made while refreshing: a token endpoint
        that answers 401 would otherwise recurse instead of failing as refused credentials."""
        return self.reauthenticate is not None and not refreshed and not self._refreshing

    def _refresh(self) -> None:
        self._refreshing = True
        try:
            self.auth = self.reauthenticate()  # type: ignore[misc]
        finally:
            self._refreshing = False

    def _raise_unless_retryable(
        self, response: requests.Response | None, url: str, attempt: int
    ) -> None:
        if response is None:
            return
        status = response.status_code
        if response.ok:  # a 2xx gets here only with a malformed body
            log.warning("malformed body", extra={"url": redact_url(url), "attempt": attempt})
            if attempt >= self.retry.attempts:
                raise MalformedResponseError(malformed_message(url, status, attempt))
            return
        limit = salesforce_limit(response)
        if limit is not None and "concurrent" not in limit.lower():
            raise RateLimitedError(f"Salesforce API limit: {limit}")
        if oauth_error(response):
            raise AuthFailedError(f"token request refused: {oauth_error(response)}")
        if status in (401, 403) and limit is None:
            raise AuthFailedError(f"{status} from {shown_url(url)}: the credentials were refused")
        retryable = status == 429 or status in RETRY_STATUSES or limit is not None
        if not retryable:
            raise VendorError(f"{status} from {shown_url(url)}: {response.text[:300]}")
        if attempt >= self.retry.attempts:
            raise VendorError(f"{status} from {shown_url(url)} after {attempt} tries")
        if status == 429 and "DAILY" in response.text:
            raise RateLimitedError(f"daily rate limit reached at {shown_url(url)}")

    def _delay(self, response: requests.Response | None, attempt: int) -> float:
        asked = retry_after_seconds(response) if response is not None else None
        if asked is not None:
            if asked > self.retry.max_wait_seconds:
                raise RateLimitedError(f"vendor asks to wait {asked:.0f}s; resuming next run")
            return asked
        ceiling = min(self.retry.max_backoff_seconds, self.retry.backoff_seconds * 2**attempt)
        return self.rng() * ceiling

    def _respect_remaining(self, response: requests.Response) -> None:
        """HubSpot says how many calls are left in the window; wait it out at zero."""
        if response.headers.get("X-HubSpot-RateLimit-Remaining") == "0":
            self._wait(retry_after_seconds(response) or 0.0)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited_seconds += seconds
            self.sleep(seconds)
