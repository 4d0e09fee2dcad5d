"""REST API of agent tests: /agents/{agent_id}/tests/ (cases) and /agents/{agent_id}/test-runs/
(start a run, read runs). Thin: parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents.api import AGENT_ID_PARAMETER, AgentScopedViewSet, _valid
from agents.testing import selectors, services
from agents.testing.models import AgentTestCase, AgentTestRun
from agents.testing.runner import run_start
from agents.testing.serializers import (
    CaseInputSerializer,
    CaseOutputSerializer,
    GeneratedOutputSerializer,
    RunInputSerializer,
    RunOutputSerializer,
)

PARAMS = [AGENT_ID_PARAMETER]


@extend_schema_view(
    list=extend_schema(parameters=PARAMS, responses=CaseOutputSerializer(many=True)),
    create=extend_schema(
        parameters=PARAMS, request=CaseInputSerializer, responses={201: CaseOutputSerializer}
    ),
    retrieve=extend_schema(parameters=PARAMS, responses=CaseOutputSerializer),
    update=extend_schema(
        parameters=PARAMS, request=CaseInputSerializer, responses=CaseOutputSerializer
    ),
    destroy=extend_schema(parameters=PARAMS, responses={204: None}),
    generate=extend_schema(
        parameters=PARAMS, request=None, responses={201: GeneratedOutputSerializer}
    ),
)
class AgentTestCaseViewSet(AgentScopedViewSet):
    """An agent's test cases: caller turns, each with the outcome it must get."""

    queryset = AgentTestCase.objects.none()

    def get_object(self) -> AgentTestCase:
        return get_object_or_404(selectors.case_list(agent=self._parent()), pk=self.kwargs["pk"])

    def list(self, request: Request, agent_id: str | None = None) -> Response:
        return self._page(selectors.case_list(agent=self._parent()), CaseOutputSerializer)

    def create(self, request: Request, agent_id: str | None = None) -> Response:
        data = _valid(CaseInputSerializer, request)
        case = services.case_create(agent=self._parent(), **data)
        return Response(CaseOutputSerializer(case).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, agent_id: str | None = None, pk: Any = None) -> Response:
        return Response(CaseOutputSerializer(self.get_object()).data)

    def update(self, request: Request, agent_id: str | None = None, pk: Any = None) -> Response:
        case = self.get_object()
        data = _valid(CaseInputSerializer, request)
        return Response(CaseOutputSerializer(services.case_update(case=case, **data)).data)

    def destroy(self, request: Request, agent_id: str | None = None, pk: Any = None) -> Response:
        services.case_delete(case=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["post"])
    def generate(self, request: Request, agent_id: str | None = None) -> Response:
        """Add generated cases (paraphrases of the intents' examples and knowledge questions,
        and out-of-scope probes), skipping any the agent already has."""
        added = services.cases_generate(agent=self._parent())
        output = GeneratedOutputSerializer({"added": added})
        return Response(output.data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(parameters=PARAMS, responses=RunOutputSerializer(many=True)),
    create=extend_schema(
        parameters=PARAMS, request=RunInputSerializer, responses={201: RunOutputSerializer}
    ),
    retrieve=extend_schema(parameters=PARAMS, responses=RunOutputSerializer),
)
class AgentTestRunViewSet(AgentScopedViewSet):
    """Runs of an agent's tests. Starting one on the embedded brain answers with its results;
    an LLM-brain run answers "queued": poll it until its status is done or error."""

    queryset = AgentTestRun.objects.none()

    def get_object(self) -> AgentTestRun:
        return get_object_or_404(selectors.run_list(agent=self._parent()), pk=self.kwargs["pk"])

    def list(self, request: Request, agent_id: str | None = None) -> Response:
        return self._page(selectors.run_list(agent=self._parent()), RunOutputSerializer)

    def create(self, request: Request, agent_id: str | None = None) -> Response:
        data = _valid(RunInputSerializer, request)
        run = run_start(
            agent=self._parent(),
            version_number=data["version"],
            brain=data["brain"],
            user=request.user,
        )
        return Response(RunOutputSerializer(run).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, agent_id: str | None = None, pk: Any = None) -> Response:
        return Response(RunOutputSerializer(self.get_object()).data)
