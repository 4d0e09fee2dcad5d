"""What a conversation knows about its call and environment (values resolved at call start)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

SmsSender = Callable[[str, str], Awaitable[str]]  # (to, body) -> message SID


@dataclass
class CallContext:
    """Template values and side-effect hooks for one call.

    `call` holds from/to/sid/digits and every IVR parameter; `secrets` are decrypted values of
    the connector's environment (never logged: see agents.actions.runner.redact), each sent only
    to the hosts in `secret_hosts[name]` (none: sent nowhere); `auth` maps an auth connector's
    name to {"kind", "header_name", "token_url", "scope", "allowed_hosts", "credentials": {...}}.
    """

    call: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    secret_hosts: dict[str, list[str]] = field(default_factory=dict)
    auth: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    environment: str = "development"
    send_sms: SmsSender | None = None
    llm: dict[str, Any] = field(default_factory=dict, repr=False)  # base_url, model, api_key
    # OAuth2 access tokens fetched during the call: connector name → (token, monotonic expiry).
    oauth_tokens: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)
    # Agent tests run actions without side effects: no HTTP request, no text message sent.
    dry_run: bool = False
