"""Refuse webhook targets on private, loopback and other internal addresses (SSRF).

Two checks: `check_target` resolves the URL's host when an endpoint is saved and before each
delivery, and `public_only_session` checks the address each connection actually reached, so a
host whose DNS answer changes between the two (DNS rebinding) still cannot reach inside.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class UnsafeTargetError(ValueError):
    """The URL is malformed or points at an address the server must not call."""


def is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_target(url: str, allow_private: bool = False) -> None:
    """Raise UnsafeTargetError unless `url` is http(s) with a host that resolves only to public
    addresses (or `allow_private`, an admin's explicit choice for an internal receiver)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError("use an http:// or https:// URL with a host name")
    if parts.username or parts.password:
        raise UnsafeTargetError("put credentials in the receiver's config, not in the URL")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise UnsafeTargetError(f"cannot resolve {parts.hostname}: {exc}") from exc
    internal = sorted({info[4][0] for info in infos if is_internal(info[4][0])})
    if internal:
        raise UnsafeTargetError(
            f"{parts.hostname} resolves to a private or loopback address ({', '.join(internal)})"
        )


def refuse_internal_peer(sock: socket.socket) -> None:
    """Close and refuse a freshly opened connection whose peer is an internal address."""
    address = sock.getpeername()[0]
    if is_internal(address):
        sock.close()
        raise UnsafeTargetError(f"the target's address {address} is private or loopback")


class _PublicPeer:
    """Connection mixin: the socket is checked as soon as it is open, before TLS or a request."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        refuse_internal_peer(sock)
        return sock


class PublicHTTPConnection(_PublicPeer, HTTPConnection):
    pass


class PublicHTTPSConnection(_PublicPeer, HTTPSConnection):
    pass


class PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = PublicHTTPConnection


class PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter whose connections may only reach public addresses."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": PublicHTTPPool, "https": PublicHTTPSPool}


def public_only_session() -> requests.Session:
    """A session for receivers that are not allowed on internal addresses; it ignores proxy
    settings from the environment, whose address would be checked instead of the target's."""
    session = requests.Session()
    session.trust_env = False
    for scheme in ("http://", "https://"):
        session.mount(scheme, PublicOnlyAdapter())
    return session
