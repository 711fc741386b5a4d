"""Refuse webhook targets on private, loopback and other internal addresses (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


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
