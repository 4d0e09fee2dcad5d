"""Limit/offset pagination of the REST API with bounds the schema declares and the server keeps.

DRF's own class passes any integer to the database, so `?limit=9223372036854775808` overflowed
the SQL LIMIT (a 500). Here a limit or offset outside its range, or not an integer, is a 400
that names the parameter and the range.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000


def _bounded(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValidationError({name: [f"Must be a whole number from {low} to {high}."]})
    return value


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """`limit` 1-200 (default PAGE_SIZE), `offset` 0-1,000,000; anything else is a 400."""

    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int:
        default = min(self.default_limit or MAX_LIMIT, MAX_LIMIT)
        return _bounded(request, self.limit_query_param, default=default, low=1, high=MAX_LIMIT)

    def get_offset(self, request: Request) -> int:
        return _bounded(request, self.offset_query_param, default=0, low=0, high=MAX_OFFSET)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": MAX_LIMIT},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
