"""Action templates (`{{ variables.X }}`, `{{ secrets.X }}`, `{{ call.from }}`, `{{ args.X }}`).

Rendered by Django's template engine rather than a hand-written renderer: a missing value
renders as "" and a syntax error is reported, not guessed at. The engine has no loaders and
no `{% debug %}`, `{% include %}` or `{% extends %}`, so a template can only see its values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Library, Template
from django.template.base import Lexer, TokenType

from agents.actions.context import CallContext

BLOCKED_TAGS = frozenset({"debug", "include", "extends", "load"})
ARGUMENT_NAME = re.compile(r"\bargs\.([A-Za-z_][A-Za-z0-9_]*)")


class TemplateError(ValueError):
    """A template could not be compiled or rendered; the message says where and why."""


def _engine() -> Engine:
    engine = Engine(autoescape=False, loaders=[], libraries={})
    safe = []
    for builtin in engine.template_builtins:
        library = Library()
        library.tags = {k: v for k, v in builtin.tags.items() if k not in BLOCKED_TAGS}
        library.filters = dict(builtin.filters)
        safe.append(library)
    engine.template_builtins = safe
    return engine


ENGINE = _engine()


@lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """The compiled template, or TemplateError with Django's explanation."""
    try:
        return ENGINE.from_string(source)
    except Exception as exc:  # TemplateSyntaxError and friends
        raise TemplateError(f"Template error in {_excerpt(source)!r}: {exc}") from None


def render(source: str | None, values: dict[str, Any]) -> str:
    """Render `source` with `values`; missing values render as ""."""
    if not source:
        return ""
    template = compile_template(str(source))
    try:
        return template.render(Context(values, autoescape=False))
    except Exception as exc:
        raise TemplateError(f"Template error in {_excerpt(source)!r}: {exc}") from None


def template_values(
    ctx: CallContext, arguments: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """What templates can refer to: call (with lowercase aliases of IVR keys), variables,
    secrets, args (the LLM's tool arguments) and anything in `extra` (e.g. result)."""
    call = {str(k).lower(): v for k, v in ctx.call.items()}
    call.update(ctx.call)
    return {
        "call": call,
        "variables": dict(ctx.variables),
        "secrets": dict(ctx.secrets),
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
