"""Caller input is data: how values are written into a request's URL, JSON body and headers.

What a caller controls (`call.*`: numbers, IVR parameters, digits; `args.*`: the LLM's tool
arguments, taken from what the caller said) is percent-encoded in every URL part, so
`../../admin/users/1?force=true#` stays one path segment; every value in a JSON body is
JSON-escaped and the body must keep the structure its template gives it, so no value adds a
key; a header with a line break or another control character is refused.
Variables are admin-set configuration (e.g. a base URL): they keep their slashes in the path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from agents.actions.templating import render

CALLER_KEYS = ("call", "args")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class RequestRefused(ValueError):
    """Caller input would have changed the request's shape (the message says how)."""


def deep_map(value: Any, leaf: Callable[[str], Any]) -> Any:
    """`value` with `leaf` applied to every string in it (dicts, lists and tuples kept)."""
    if isinstance(value, dict):
        return {k: deep_map(v, leaf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [deep_map(v, leaf) for v in value]
    return leaf(value) if isinstance(value, str) else value


def url_segment(text: str) -> str:
    """Percent-encoded with nothing left as is: "/", "?", "#", "@" and ":" are data."""
    encoded = quote(text, safe="")
    return encoded.replace(".", "%2E") if encoded and set(encoded) == {"."} else encoded


def render_url(template: str, values: dict[str, Any]) -> str:
    """The URL with caller values percent-encoded everywhere and every value encoded in the
    query string (a caller's "+1555…" stays a plus); variables keep their slashes in the path."""
    base, sep, query = template.partition("?")
    path_values = {
        **values,
        **{k: deep_map(values[k], url_segment) for k in CALLER_KEYS if k in values},
    }
    rendered = render(base, path_values).strip()
    if sep:
        rendered += "?" + render(query, deep_map(values, url_segment)).strip()
    return rendered


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _skeleton(value: Any) -> Any:
    """The shape of parsed JSON: containers and keys, with every leaf the same."""
    if isinstance(value, dict):
        return {k: _skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(v) for v in value]
    return None


def render_body(template: str, values: dict[str, Any]) -> str:
    """A body that is JSON when rendered with neutral values is rendered with every value
    JSON-escaped, and must keep the same keys and nesting; any other body is text as written."""
    neutral = render(template, deep_map(values, lambda _text: "0"))
    try:
        shape = _skeleton(json.loads(neutral))
    except ValueError:
        return render(template, values)
    body = render(template, deep_map(values, _json_escaped))
    try:
        parsed = json.loads(body)
    except ValueError:
        raise RequestRefused(
            "A value made the JSON body invalid; the request was not sent."
        ) from None
    if _skeleton(parsed) != shape:
        raise RequestRefused(
            "A value changed the keys or nesting of the JSON body; the request was not sent."
        )
    return body


def check_header(name: str, value: str) -> None:
    """RequestRefused for a header name that is not a token or a value with a line break."""
    if not HEADER_NAME.match(name):
        raise RequestRefused(f"Refused header name {name[:40]!r}: not a valid header name.")
    if CONTROL_CHARACTER.search(value):
        raise RequestRefused(
            f"Refused header {name}: its value holds a line break or a control character."
        )
