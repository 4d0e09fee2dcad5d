"""Shared pieces of the OpenAPI schema: the error responses every operation can return.

Declared once, here, instead of on each view, so generated clients can handle them: 400 (a body,
query parameter or JSON that does not validate), 401 (no or bad credentials), 403 (the role does
not allow it), 404 (no such object in this workspace, or an unknown X-Stellar-Workspace). The
bodies are the ones stellar.api_errors renders.
"""

from __future__ import annotations

from typing import Any

ERROR = "ErrorResponse"
VALIDATION_ERROR = "ValidationErrorResponse"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

COMPONENTS: dict[str, dict[str, Any]] = {
    ERROR: {
        "type": "object",
        "description": "What went wrong, in one sentence.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    VALIDATION_ERROR: {
        "type": "object",
        "description": (
            "Messages by field name (nested like the body for lists and objects); `detail` "
            "holds what is not about one field, e.g. a JSON parse error."
        ),
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}]
        },
    },
}

ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": (VALIDATION_ERROR, "The request body or a query parameter is not valid."),
    "401": (ERROR, "No credentials, or a token that is not valid."),
    "403": (ERROR, "Your role in this workspace does not allow this."),
    "404": (ERROR, "No such object in this workspace, or no such workspace."),
}


def _response(component: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


def declare_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the error responses to every operation that
    does not declare its own for that status code."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, schema)
    for path_item in result.get("paths", {}).values():
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code, (component, description) in ERROR_RESPONSES.items():
                responses.setdefault(code, _response(component, description))
    return result
