"""DRF error handler: domain ValidationErrors from services become clean 400 responses, and every
error body has the shape stellar.api_schema declares (an object; `detail` a string except on
400, where it may list messages)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _error_body(status_code: int, data: Any) -> dict[str, Any]:
    if status_code == status.HTTP_400_BAD_REQUEST:
        return data if isinstance(data, dict) and data else {"detail": data}
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return data
    if isinstance(data, dict):
        data = list(data.values())
    messages = data if isinstance(data, list) else [data]
    return {"detail": " ".join(str(message) for message in messages)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = _error_body(response.status_code, response.data)
    return response
