"""What `OPTIONS` answers on the REST API: the endpoint's name, description and media types.

DRF's SimpleMetadata describes the body fields through `view.get_serializer()`, which viewsets
with explicit per-method serializers do not have (a 500). Bodies are described by the OpenAPI
schema at /api/v1/schema/; the viewset's `options()` still looks the object up (404 if absent).
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request


class EndpointMetadata(BaseMetadata):
    """Name, description, renders and parses: no guessing at serializers."""

    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
