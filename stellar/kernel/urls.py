"""URL helpers that need nothing but the standard library."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def host_is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: a host only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_is_loopback(url: str) -> bool:
    return host_is_loopback(urlsplit(url).hostname or "")
