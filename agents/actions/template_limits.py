"""Time and size limits for action templates, so one editor's template cannot stall the process.

Templates render in a worker thread (`run_bounded`) under a `Budget`: a wall-clock deadline,
a cap on the characters produced and on `{% for %}` iterations. The checks are cooperative
(every loop iteration, every filter, every text and variable node), and the filters that take
a width (`ljust:"2000000000"`, `stringformat:"999999999s"`, `floatformat:"100000"`) are
refused before they allocate, because one such C call would hold the interpreter lock.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from django.template import Template
from django.template.base import Node, NodeList, TextNode, VariableNode
from django.template.defaulttags import ForNode

RENDER_SECONDS = 0.5  # all template work of one action
MAX_RENDER_CHARS = 100_000  # all output of one action's templates
MAX_LOOP_ITERATIONS = 10_000
MAX_FLOAT_DIGITS = 30
WIDTH_FILTERS = frozenset({"ljust", "rjust", "center"})
FORMAT_NUMBER = re.compile(r"\d+")

_T = TypeVar("_T")
_local = threading.local()
# Template work gets threads of its own: a stuck render never starves the default executor.
TEMPLATE_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="templates")


class TemplateLimitError(Exception):
    """A template ran past its time, output or loop limit (the message says which)."""


@dataclass
class Budget:
    deadline: float
    chars_left: int = MAX_RENDER_CHARS
    iterations_left: int = MAX_LOOP_ITERATIONS

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"The templates took longer than {RENDER_SECONDS:g} s to render."
            )

    def spend_chars(self, count: int) -> None:
        self.chars_left -= count
        if self.chars_left < 0:
            raise TemplateLimitError(
                f"The templates produced more than {MAX_RENDER_CHARS:,} characters."
            )
        self.check_time()

    def spend_iteration(self) -> None:
        self.iterations_left -= 1
        if self.iterations_left < 0:
            raise TemplateLimitError(
                f"The templates looped more than {MAX_LOOP_ITERATIONS:,} times."
            )
        self.check_time()


def current_budget() -> Budget:
    budget: Budget | None = getattr(_local, "budget", None)
    if budget is None:  # rendering outside run_bounded (a preview, a test): a budget of its own
        budget = Budget(deadline=time.monotonic() + RENDER_SECONDS)
        _local.budget = budget
    return budget


@contextmanager
def budget_scope() -> Iterator[Budget]:
    """One budget for everything rendered inside (in this thread)."""
    outer = getattr(_local, "budget", None)
    _local.budget = budget = Budget(deadline=time.monotonic() + RENDER_SECONDS)
    try:
        yield budget
    finally:
        _local.budget = outer


async def run_bounded(work: Callable[[], _T]) -> _T:
    """`work()` (template rendering) in a worker thread under one budget: never on the loop."""

    def bounded() -> _T:
        with budget_scope():
            return work()

    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RENDER_SECONDS * 2):  # the cooperative checks stop it sooner
            return await loop.run_in_executor(TEMPLATE_POOL, bounded)
    except TimeoutError:
        raise TemplateLimitError(
            f"The templates took longer than {RENDER_SECONDS:g} s to render."
        ) from None


# Filters ------------------------------------------------------------------------------------


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` that checks the budget, refuses oversized widths and oversized results."""

    @functools.wraps(func)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if args:
            _check_argument(name, args[0])
        result = func(value, *args, **kwargs)
        if isinstance(result, str | list | tuple) and len(result) > MAX_RENDER_CHARS:
            raise TemplateLimitError(
                f"The {name} filter produced more than {MAX_RENDER_CHARS:,} characters."
            )
        return result

    return wrapper


def _check_argument(name: str, argument: Any) -> None:
    if name in WIDTH_FILTERS:
        try:
            width = int(argument)
        except (TypeError, ValueError):
            return  # the filter itself reports a bad width
        if width > MAX_RENDER_CHARS:
            raise TemplateLimitError(f"{name}:{width} is wider than {MAX_RENDER_CHARS:,}.")
    elif name == "stringformat":
        for number in FORMAT_NUMBER.findall(str(argument)):
            if int(number) > MAX_RENDER_CHARS:
                raise TemplateLimitError(f"stringformat:{argument!r} is too wide.")
    elif name == "floatformat":
        digits = FORMAT_NUMBER.findall(str(argument))
        if digits and int(digits[0]) > MAX_FLOAT_DIGITS:
            raise TemplateLimitError(f"floatformat:{argument!r} asks for too many digits.")


# Nodes --------------------------------------------------------------------------------------


class BudgetedNodeList(NodeList):
    """A `{% for %}` body: each iteration (each pass over the body) spends one iteration."""

    def __iter__(self) -> Iterator[Node]:
        current_budget().spend_iteration()
        return super().__iter__()


def _counted(render_annotated: Callable[[Any], int | str]) -> Callable[[Any], int | str]:
    def counted(context: Any) -> int | str:
        output = render_annotated(context)
        current_budget().spend_chars(len(str(output)))
        return output

    return counted


def bound_template(template: Template) -> Template:
    """Wrap a freshly compiled template's loops and output nodes in the budget checks."""
    # Output nodes first: walking the tree afterwards would pass through the budgeted loops.
    for node in template.nodelist.get_nodes_by_type((TextNode, VariableNode)):  # type: ignore[arg-type]
        # render_annotated: what node lists call (TextNode's returns its text without render).
        node.render_annotated = _counted(node.render_annotated)  # type: ignore[method-assign,assignment]
    for loop in template.nodelist.get_nodes_by_type(ForNode):
        assert isinstance(loop, ForNode)
        loop.nodelist_loop = BudgetedNodeList(loop.nodelist_loop)  # type: ignore[arg-type]
    return template
