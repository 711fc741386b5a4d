"""Refuse webhook targets on private, loopback and other internal addresses (SSRF).

Two checks: `check_target` resolves the URL's host when an endpoint is saved and before each
delivery, and `public_only_session` checks the address each connection actually reached, so a
host whose DNS answer changes between the two (DNS rebinding) still cannot reach inside.
`deadline` bounds a whole request made with these sessions (connect, headers, body).
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class UnsafeTargetError(ValueError):
    """The URL is malformed or points at an address the server must not call."""


# Ranges Python calls global that still reach inside: IPv4-compatible IPv6 (::a.b.c.d), NAT64
# (well-known and local-use prefixes) and 6to4, which carry an IPv4 address the gateway dials;
# deprecated site-local IPv6; Azure's host endpoint (wireserver).
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "fec0::/10",
                    "168.63.129.16/32")
)  # fmt: skip


def is_internal(address: str) -> bool:
    """Whether an address is private, loopback, link-local, reserved, multicast or in one of
    REFUSED_NETWORKS (IPv4-mapped IPv6 judged by its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    refused = any(ip.version == net.version and ip in net for net in REFUSED_NETWORKS)
    return refused or not ip.is_global or ip.is_multicast


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
    addresses = {str(info[4][0]) for info in infos}  # IPv4 and IPv6 addresses are text
    internal = sorted(address for address in addresses if is_internal(address))
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


class SocketWatch:
    """The sockets one request opens, so a watchdog can cut them all at a deadline, however
    slowly the peer sends (a per-read timeout restarts with every byte)."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.expired = False
        self._lock = threading.Lock()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self.sockets.append(sock)
            if self.expired:
                cut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self.sockets:
                cut(sock)


def cut(sock: socket.socket) -> None:
    """Shut a socket down: a thread blocked reading it returns at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_watch: contextvars.ContextVar[SocketWatch | None] = contextvars.ContextVar("watch", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[SocketWatch]:
    """Within the block, connections of guarded sessions are cut after `seconds` in all."""
    watch = SocketWatch()
    timer = threading.Timer(seconds, watch.expire)
    token = _watch.set(watch)
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        _watch.reset(token)


class _GuardedPeer:
    """Connection mixin: each new socket joins the running deadline's watch and, for public-only
    pools, is checked as soon as it is open, before TLS or a request."""

    public_only = True

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        watch = _watch.get()
        if watch is not None:
            watch.add(sock)
        if self.public_only:
            refuse_internal_peer(sock)
        return sock


class PublicHTTPConnection(_GuardedPeer, HTTPConnection):
    pass


class PublicHTTPSConnection(_GuardedPeer, HTTPSConnection):
    pass


class WatchedHTTPConnection(_GuardedPeer, HTTPConnection):
    public_only = False


class WatchedHTTPSConnection(_GuardedPeer, HTTPSConnection):
    public_only = False


def pool_class(base: type, connection: type) -> type:
    return type(f"{connection.__name__}Pool", (base,), {"ConnectionCls": connection})


POOLS = {
    True: {"http": pool_class(HTTPConnectionPool, PublicHTTPConnection),
           "https": pool_class(HTTPSConnectionPool, PublicHTTPSConnection)},
    False: {"http": pool_class(HTTPConnectionPool, WatchedHTTPConnection),
            "https": pool_class(HTTPSConnectionPool, WatchedHTTPSConnection)},
}  # fmt: skip


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections obey `deadline` and, when public_only, may only
    reach public addresses."""

    def __init__(self, public_only: bool = True) -> None:
        self.public_only = public_only
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS[self.public_only]


def guarded_session(public_only: bool = True) -> requests.Session:
    """A session for outside receivers; it ignores proxy settings from the environment, whose
    address would be checked instead of the target's."""
    session = requests.Session()
    session.trust_env = False
    for scheme in ("http://", "https://"):
        session.mount(scheme, GuardedAdapter(public_only))
    return session


def public_only_session() -> requests.Session:
    """A session whose connections may only reach public addresses."""
    return guarded_session(public_only=True)
