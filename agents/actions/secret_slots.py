"""Secrets in templates are slots, not values: a secret reaches only a request to its hosts.

Templates never see a secret's value. `{{ secrets.NAME }}` renders an opaque marker that holds
no part of the value, so no filter, loop or comparison can learn anything from it; after
rendering, `fill` puts the value in place of each whole marker, and only in the URL, headers
or body of a request to a host the secret's admin allowed. Anything else (spoken text, a text
message, a marker a filter has changed) is refused by `refuse_markers`.
"""

from __future__ import annotations

import re
import secrets as random_source
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

MASK = "••••••"


class SecretRefused(ValueError):
    """A secret was used where its admin did not allow it (the message names it, never its value)."""


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """`host` is one of `patterns`: exact names/addresses, or "*.example.com" for subdomains."""
    host = host.lower().rstrip(".").strip("[]")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".").strip("[]")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif pattern and host == pattern:
            return True
    return False


class SecretNames:
    """`secrets` in a template: `secrets.NAME` is a marker; no keys, items, length or text, so
    `{{ secrets.items }}` or `{{ secrets }}` render nothing (names starting "_" are refused)."""

    __slots__ = ("_markers",)

    def __init__(self, markers: dict[str, str]) -> None:
        self._markers = markers

    def __getitem__(self, name: str) -> str:
        return self._markers[name]

    def __str__(self) -> str:
        return ""


@dataclass
class SecretSlots:
    """The markers of one action run: marker i stands for secret `names[i]`."""

    values: Mapping[str, str] = field(repr=False)
    hosts: Mapping[str, Sequence[str]]
    nonce: str = field(default_factory=lambda: f"{random_source.randbelow(10**16):016d}")

    def __post_init__(self) -> None:
        self.names = sorted(self.values)
        # Letters and digits only: percent-encoding and JSON escaping leave a marker as it is,
        # and upper/lower/title leave the digits of the nonce, so a changed marker is seen.
        self.pattern = re.compile(rf"zsecret{self.nonce}x(\d+)z")

    def for_templates(self) -> SecretNames:
        """What `secrets` is in a template: NAME → its marker, and nothing else."""
        return SecretNames({name: f"zsecret{self.nonce}x{i}z" for i, name in enumerate(self.names)})

    def used(self, *texts: str) -> list[str]:
        """Names of the secrets whose markers appear in `texts`."""
        found = {int(m.group(1)) for text in texts for m in self.pattern.finditer(text)}
        return [self.names[i] for i in sorted(found) if i < len(self.names)]

    def check_host(self, host: str, *texts: str) -> None:
        """SecretRefused unless every secret used in `texts` may be sent to `host`."""
        for name in self.used(*texts):
            if not host_allowed(host, self.hosts.get(name, ())):
                raise SecretRefused(
                    f"The secret {name} may not be sent to {host}: an admin can add the host "
                    "to the secret's allowed hosts."
                )

    def fill(self, text: str, encode: Callable[[str], str] = str) -> str:
        """`text` with each whole marker replaced by its secret's value, as `encode` writes it."""
        self._refuse_changed(self.pattern.sub("", text))
        return self.pattern.sub(lambda m: encode(self._value(m)), text)

    def masked(self, text: str) -> str:
        """`text` with each marker shown as "••••••": what the timeline stores."""
        return self.pattern.sub(MASK, text)

    def refuse_markers(self, text: str, where: str) -> None:
        """SecretRefused if `text` (spoken, texted or stored) holds a secret in any form."""
        if self.used(text) or self.nonce in text:
            raise SecretRefused(
                f"Secrets cannot be used in {where}: they may only go into the URL, headers or "
                "body of a request to a host their admin allowed."
            )

    def _value(self, match: re.Match[str]) -> str:
        index = int(match.group(1))
        return self.values[self.names[index]] if index < len(self.names) else ""

    def _refuse_changed(self, text: str) -> None:
        if self.nonce in text:
            raise SecretRefused(
                "A secret can only be used whole, as {{ secrets.NAME }}, never through a filter."
            )
