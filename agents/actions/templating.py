"""Action templates (`{{ variables.X }}`, `{{ secrets.X }}`, `{{ call.from }}`, `{{ args.X }}`).

Rendered by Django's template engine rather than a hand-written renderer: a missing value
renders as "" and a syntax error is reported, not guessed at. The engine has no loaders and
no `{% debug %}`, `{% include %}`, `{% extends %}` or `{% lorem %}`, so a template can only
see its values; every filter and loop runs under the limits of `template_limits`, and
`secrets` holds opaque slots (`secret_slots`), never values, usable only as `{{ secrets.X }}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Library, Template
from django.template.base import Lexer, TokenType

from agents.actions.context import CallContext
from agents.actions.secret_slots import SecretRefused, SecretSlots
from agents.actions.template_limits import bound_template, bounded_filter

BLOCKED_TAGS = frozenset({"debug", "include", "extends", "load", "lorem"})
ARGUMENT_NAME = re.compile(r"\bargs\.([A-Za-z_][A-Za-z0-9_]*)")
SECRETS_WORD = re.compile(r"(?<![.\w])secrets\b")
WHOLE_SECRET = re.compile(r"^\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*$")


class TemplateError(ValueError):
    """A template could not be compiled or rendered; the message says where and why."""


def _engine() -> Engine:
    engine = Engine(autoescape=False, loaders=[], libraries={})
    safe = []
    for builtin in engine.template_builtins:
        library = Library()
        library.tags = {k: v for k, v in builtin.tags.items() if k not in BLOCKED_TAGS}
        library.filters = {k: bounded_filter(k, f) for k, f in builtin.filters.items()}
        safe.append(library)
    engine.template_builtins = safe
    return engine


ENGINE = _engine()


@lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """The compiled template, or TemplateError with Django's explanation."""
    check_secret_uses(source)
    try:
        return bound_template(ENGINE.from_string(source))
    except Exception as exc:  # TemplateSyntaxError and friends
        raise TemplateError(f"Template error in {_excerpt(source)!r}: {exc}") from None


def check_secret_uses(source: str) -> None:
    """TemplateError unless every use of `secrets` is a whole `{{ secrets.NAME }}`: no filter,
    index, loop, comparison or `{{ secrets }}`, which could spell a value out or test it."""
    try:
        tokens = Lexer(source).tokenize()
    except Exception:  # noqa: S110 - compiling reports the syntax error itself
        return
    for token in tokens:
        if token.token_type not in (TokenType.VAR, TokenType.BLOCK):
            continue
        if not SECRETS_WORD.search(token.contents):
            continue
        if token.token_type == TokenType.BLOCK or not WHOLE_SECRET.match(token.contents):
            raise TemplateError(
                f"Template error in {_excerpt(source)!r}: secrets can only be used whole, as "
                "{{ secrets.NAME }}, without filters, indexes or tags."
            )


def render(source: str | None, values: dict[str, Any]) -> str:
    """Render `source` with `values`; missing values render as "". Run it through
    `template_limits.run_bounded` on the event loop: the limits are checked as it goes."""
    if not source:
        return ""
    template = compile_template(str(source))
    try:
        return template.render(Context(values, autoescape=False))
    except Exception as exc:
        raise TemplateError(f"Template error in {_excerpt(source)!r}: {exc}") from None


def render_text(source: str | None, values: dict[str, Any], slots: SecretSlots, where: str) -> str:
    """Render text that is spoken, texted or stored: a secret in it is an error."""
    text = render(source, values)
    try:
        slots.refuse_markers(text, where)
    except SecretRefused as exc:
        raise TemplateError(str(exc)) from None
    return text


def secret_slots(ctx: CallContext) -> SecretSlots:
    """Fresh markers for one action run (a new nonce each time)."""
    return SecretSlots(values=ctx.secrets, hosts=ctx.secret_hosts)


def template_values(
    ctx: CallContext,
    arguments: dict[str, Any] | None = None,
    slots: SecretSlots | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What templates can refer to: call (with lowercase aliases of IVR keys), variables,
    secrets (as slots: `slots`, or fresh ones), args (the LLM's tool arguments) and anything
    in `extra` (e.g. result)."""
    call = {str(k).lower(): v for k, v in ctx.call.items()}
    call.update(ctx.call)
    return {
        "call": call,
        "variables": dict(ctx.variables),
        "secrets": (slots or secret_slots(ctx)).for_templates(),
        "args": dict(arguments or {}),
        **extra,
    }


def argument_names(*sources: Any) -> list[str]:
    """The `X` of every `{{ args.X }}` (or `{% if args.X %}`) in the given templates, in order.

    Accepts strings and nested dicts/lists of strings (e.g. an action's headers).
    """
    names: list[str] = []
    for source in _strings(sources):
        try:
            tokens = Lexer(source).tokenize()
        except Exception:  # noqa: S112 - a broken template simply has no arguments
            continue
        for token in tokens:
            if token.token_type in (TokenType.VAR, TokenType.BLOCK):
                for name in ARGUMENT_NAME.findall(token.contents):
                    if name not in names:
                        names.append(name)
    return names


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _excerpt(source: Any, limit: int = 60) -> str:
    text = str(source)
    return text if len(text) <= limit else text[: limit - 1] + "…"
