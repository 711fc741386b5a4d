"""Where a connection's credentials may go: its vendor's own hosts over https, or a host the
operator allowed in INTEGRATIONS_ALLOWED_HOSTS (a proxy, a sandbox, an on-premises install).

Every request of the shared HTTP client is checked against the connection's HostPolicy, the
first one and every "next" URL a vendor hands back, so no connector can send a token elsewhere.
Connections also go through the webhooks' SSRF guard: private addresses are refused unless
INTEGRATIONS_ALLOW_PRIVATE_HOSTS is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# The hosts each vendor's API is served from ("*." matches any subdomain, not the bare name).
VENDOR_HOSTS: dict[str, tuple[str, ...]] = {
    "hubspot": ("api.hubapi.com", "*.hubapi.com"),
    "salesforce": ("*.salesforce.com", "*.force.com"),
    "zendesk": ("*.zendesk.com",),
    "freshdesk": ("*.freshdesk.com",),
}
DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeHostError(ValueError):
    """A URL a connection's credentials must not be sent to."""


def host_key(host: str, port: int | None, scheme: str) -> str:
    """host:port with the scheme's default port filled in, lower case."""
    return f"{host.lower().rstrip('.')}:{port or DEFAULT_PORTS.get(scheme, 0)}"


def parse_allowed(entries: Iterable[str]) -> frozenset[str]:
    """INTEGRATIONS_ALLOWED_HOSTS entries as keys: `host` (any port), `host:port`, or a URL
    (its host and port)."""
    keys = set()
    for entry in entries:
        parts = urlsplit(entry if "://" in entry else f"//{entry}")
        if not parts.hostname:
            continue
        explicit_port = parts.port is not None or bool(parts.scheme)
        keys.add(
            host_key(parts.hostname, parts.port, parts.scheme)
            if explicit_port
            else parts.hostname.lower().rstrip(".")
        )
    return frozenset(keys)


def matches_vendor(host: str, patterns: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(
        host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern
        for pattern in patterns
    )


@dataclass(frozen=True)
class HostPolicy:
    """The vendor's host patterns (https only) and the operator's extra hosts (any scheme)."""

    vendor: str
    patterns: tuple[str, ...]
    allowed: frozenset[str] = frozenset()

    def check(self, url: str) -> None:
        """Raise UnsafeHostError unless credentials may be sent to `url`."""
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise UnsafeHostError(f"{url!r} has an invalid port") from None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UnsafeHostError("use an https:// URL with a host name")
        if parts.username or parts.password:
            raise UnsafeHostError("credentials belong in their fields, not in the URL")
        exact = host_key(parts.hostname, port, parts.scheme)
        if exact in self.allowed or exact.rpartition(":")[0] in self.allowed:
            return
        vendor_port = parts.scheme == "https" and port in (None, 443)
        if vendor_port and matches_vendor(parts.hostname, self.patterns):
            return
        raise UnsafeHostError(
            f"{parts.scheme}://{parts.netloc.rpartition('@')[2]} is not a {self.vendor} API host "
            f"({', '.join(self.patterns) or 'none'} over https); an operator can allow it with "
            "INTEGRATIONS_ALLOWED_HOSTS"
        )


def policy_for(kind: str, allowed_entries: Iterable[str]) -> HostPolicy:
    """The host policy of connections of `kind` under the operator's allowed hosts."""
    return HostPolicy(kind, VENDOR_HOSTS.get(kind, ()), parse_allowed(allowed_entries))
