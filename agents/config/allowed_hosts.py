"""The hosts a secret or auth connector may be sent to, as admins enter them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

HOST_NAME = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
MAX_HOSTS = 50


def parse_allowed_hosts(value: str | Iterable[str]) -> list[str]:
    """Host names, "*.example.com" (its subdomains) or IP addresses, from a list or from text
    separated by commas, spaces or lines; lower-cased, without duplicates, in order.
    ValidationError names the first entry that is not a host (a URL, a bare "*", a path)."""
    entries = re.split(r"[\s,]+", value) if isinstance(value, str) else list(value)
    hosts: list[str] = []
    for entry in entries:
        host = str(entry).strip().lower().rstrip(".")
        if not host:
            continue
        if not _is_host(host):
            raise ValidationError(
                f"“{str(entry)[:80]}” is not a host name: enter names like api.example.com or "
                "*.example.com, without https:// or a path.",
                code="invalid_host",
            )
        if host not in hosts:
            hosts.append(host)
    if len(hosts) > MAX_HOSTS:
        raise ValidationError(f"At most {MAX_HOSTS} hosts.", code="too_many_hosts")
    return hosts


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return len(host) <= 253 and bool(HOST_NAME.match(host))
    return True
