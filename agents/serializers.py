"""Input and output serializers of the agents API, one pair per endpoint.

Inputs validate the shape of what a client sends (they have no instance: `Serializer[None]`);
outputs decide exactly what leaves the server (never a secret value, a credential or ciphertext).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db import models
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.definitions.extraction_fields import FIELD_TYPES, NAME_PATTERN
from agents.definitions.models import TurnDetection
from agents.definitions.speech_options import language_problem, voice_problem
from agents.models import (
    ActionKind,
    Agent,
    AgentAction,
    AgentVersion,
    AuthConnector,
    AuthConnectorCredential,
    AuthKind,
    Brain,
    Environment,
    EnvironmentKind,
    Membership,
    Role,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
    VersionStatus,
)


class EnumChoiceField(serializers.ChoiceField):
    """A ChoiceField whose choices are its class's `enum` (made by choice_field_class)."""

    enum: ClassVar[type[models.Choices]]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", self.enum.choices)
        super().__init__(**kwargs)


def choice_field_class(choices: type[models.Choices], component_name: str) -> type[EnumChoiceField]:
    """A ChoiceField over `choices` whose schema is the named enum component: "kind" and
    "status" are different choice sets on different resources, so each gets its own name."""

    class NamedChoiceField(EnumChoiceField):
        enum = choices

    NamedChoiceField.__name__ = NamedChoiceField.__qualname__ = f"{component_name}Field"
    schema = {"type": "string", "enum": list(choices.values)}
    return extend_schema_field(schema, component_name=component_name)(NamedChoiceField)


ActionKindField = choice_field_class(ActionKind, "ActionKind")
AuthKindField = choice_field_class(AuthKind, "AuthKind")
EnvironmentKindField = choice_field_class(EnvironmentKind, "EnvironmentKind")
VersionStatusField = choice_field_class(VersionStatus, "VersionStatus")


class WorkspacePrimaryKeyField(serializers.PrimaryKeyRelatedField[models.Model]):
    """A primary key that must name an object of the request's workspace (else "does not
    exist"), so ids of other workspaces cannot be probed or referenced."""

    def __init__(
        self, *, model: type[models.Model], workspace_path: str = "workspace", **kwargs: Any
    ):
        self.model = model
        self.workspace_path = workspace_path
        super().__init__(queryset=model._default_manager.all(), **kwargs)

    def get_queryset(self) -> QuerySet[models.Model]:
        workspace = self.context["workspace"]
        return self.model._default_manager.filter(**{self.workspace_path: workspace})


class FixedNameMixin(serializers.Serializer[None]):
    """Names are read-only after creation: templates and actions refer to them."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.context["instance"].name
        sent = self.initial_data.get("name") if isinstance(self.initial_data, dict) else None
        if sent is not None and sent != current:
            raise serializers.ValidationError(
                {"name": ["The name cannot be changed after creation; create a new one instead."]}
            )
        validated: dict[str, Any] = super().validate(attrs)
        return validated


# Draft ---------------------------------------------------------------------------------------


class KnowledgeItemSerializer(serializers.Serializer[dict[str, Any]]):
    question = serializers.CharField(max_length=2000)
    answer = serializers.CharField(max_length=4000)


class IntentSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=63)
    examples = serializers.ListField(child=serializers.CharField(max_length=500), allow_empty=False)
    response = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    action = serializers.CharField(max_length=63, required=False, allow_blank=True)


class ExtractionFieldSerializer(serializers.Serializer[dict[str, Any]]):
    """A value filled in after each call (calls.postcall); see docs/extraction.md."""

    name = serializers.RegexField(
        NAME_PATTERN, max_length=40, help_text="A slug, e.g. appointment_date."
    )
    type = serializers.ChoiceField(choices=list(FIELD_TYPES.items()))
    description = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        help_text="What the value is; the LLM reads it, and the rules match its words.",
    )
    options = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="The choices (type choice only).",
    )


@extend_schema_field(ExtractionFieldSerializer(many=True))
class ExtractionFieldsOutputField(serializers.JSONField):
    pass


@extend_schema_field(KnowledgeItemSerializer(many=True))
class KnowledgeOutputField(serializers.JSONField):
    pass


@extend_schema_field(IntentSerializer(many=True))
class IntentsOutputField(serializers.JSONField):
    pass


class DraftInputSerializer(serializers.Serializer[None]):
    """PUT: name is required, omitted fields keep their value."""

    name = serializers.CharField(max_length=120)
    language = serializers.CharField(
        max_length=16,
        required=False,
        help_text="A language the installed speech stack handles (the Studio draft lists them), "
        "e.g. en-US.",
    )
    voice = serializers.CharField(
        max_length=40, required=False, help_text="An installed text-to-speech voice, e.g. joe."
    )
    greeting = serializers.CharField(required=False, allow_blank=True)
    system_prompt = serializers.CharField(required=False, allow_blank=True)
    brain = serializers.ChoiceField(choices=Brain.choices, required=False)
    llm_model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    default_handover = serializers.CharField(
        max_length=63,
        required=False,
        allow_blank=True,
        help_text="The handover action used when a caller asks for a person without saying "
        "whom; blank: the only handover, or the agent asks which one.",
    )
    turn_detection = serializers.ChoiceField(
        choices=TurnDetection.choices,
        required=False,
        help_text="How the agent decides the caller has finished: smart (a turn model and the "
        "pause's transcript; waits through hesitations and digit groups, up to 1.1 s) or "
        "silence (a fixed 500 ms).",
    )
    knowledge = KnowledgeItemSerializer(many=True, required=False)
    intents = IntentSerializer(many=True, required=False)
    extraction_fields = ExtractionFieldSerializer(many=True, required=False)

    def validate_language(self, value: str) -> str:
        return _installed(value, language_problem)

    def validate_voice(self, value: str) -> str:
        return _installed(value, voice_problem)


def _installed(value: str, problem: Callable[[str], str | None]) -> str:
    message = problem(value)
    if message:
        raise serializers.ValidationError(message)
    return value


class DraftPatchInputSerializer(DraftInputSerializer):
    """PATCH: every field optional. (Not `partial=True`, which would also let list items skip
    their required keys.)"""

    name = serializers.CharField(max_length=120, required=False)


class DraftOutputSerializer(serializers.Serializer[Agent]):
    name = serializers.CharField()
    language = serializers.CharField()
    voice = serializers.CharField()
    greeting = serializers.CharField()
    system_prompt = serializers.CharField()
    brain = serializers.ChoiceField(choices=Brain.choices)
    llm_model = serializers.CharField()
    default_handover = serializers.CharField()
    turn_detection = serializers.ChoiceField(choices=TurnDetection.choices)
    knowledge = KnowledgeOutputField()
    intents = IntentsOutputField()
    extraction_fields = ExtractionFieldsOutputField()
    updated_at = serializers.DateTimeField()


class LatestVersionSerializer(serializers.Serializer[dict[str, Any]]):
    number = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # the field "label" shadows Field.label
    status = VersionStatusField()
    locked = serializers.BooleanField()


class AgentOutputSerializer(DraftOutputSerializer):
    """An agent with its draft, its newest version and the label of the latest published one
    (what a phone connector in Published mode answers with)."""

    id = serializers.IntegerField()
    latest_version = serializers.SerializerMethodField()
    latest_published_label = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(LatestVersionSerializer(allow_null=True))
    def get_latest_version(self, agent: Agent) -> dict[str, Any] | None:
        # The latest_* attributes come from selectors.agent_list_with_latest_version().
        number = getattr(agent, "latest_version_number", None)
        if number is None:
            return None
        return {
            "number": number,
            "label": f"v{number}",
            "status": getattr(agent, "latest_version_status", None),
            "locked": bool(getattr(agent, "latest_version_locked", False)),
        }

    def get_latest_published_label(self, agent: Agent) -> str | None:
        number = getattr(agent, "latest_published_number", None)
        return None if number is None else f"v{number}"


# Versions ------------------------------------------------------------------------------------


class PublishInputSerializer(serializers.Serializer[None]):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class VersionOutputSerializer(serializers.ModelSerializer[AgentVersion]):
    label = serializers.CharField()  # type: ignore[assignment]  # the field "label" shadows Field.label
    status = VersionStatusField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)

    class Meta:
        model = AgentVersion
        fields = [
            "number",
            "label",
            "status",
            "locked",
            "note",
            "created_by",
            "created_at",
            "published_at",
        ]
        read_only_fields = fields


class VersionDetailOutputSerializer(VersionOutputSerializer):
    class Meta(VersionOutputSerializer.Meta):
        fields = [*VersionOutputSerializer.Meta.fields, "snapshot"]
        read_only_fields = fields


# Agent actions -------------------------------------------------------------------------------


class AgentActionInputSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=63)
    description = serializers.CharField()
    kind = ActionKindField()
    config = serializers.DictField(required=False, default=dict)


class AgentActionOutputSerializer(serializers.ModelSerializer[AgentAction]):
    kind = ActionKindField()

    class Meta:
        model = AgentAction
        fields = ["id", "name", "description", "kind", "config"]
        read_only_fields = fields


# Environments, secrets, variables, auth connectors -------------------------------------------


class EnvironmentOutputSerializer(serializers.ModelSerializer[Environment]):
    kind = EnvironmentKindField()
    name = serializers.CharField(source="get_kind_display")

    class Meta:
        model = Environment
        fields = ["id", "kind", "name"]
        read_only_fields = fields


class EnvironmentValueInputSerializer(serializers.Serializer[None]):
    environment = WorkspacePrimaryKeyField(model=Environment)


def allowed_hosts_field() -> serializers.ListField:
    """Hosts a secret or auth connector may be sent to (admin-only, like every write here)."""
    return serializers.ListField(
        child=serializers.CharField(max_length=253),
        max_length=50,
        required=False,
        help_text="Host names (or *.example.com) this may be sent to; empty: sent nowhere.",
    )


class VariableInputSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class VariableUpdateInputSerializer(FixedNameMixin, serializers.Serializer[None]):
    description = serializers.CharField(max_length=200, allow_blank=True)


class SecretInputSerializer(VariableInputSerializer):
    allowed_hosts = allowed_hosts_field()


class SecretUpdateInputSerializer(VariableUpdateInputSerializer):
    allowed_hosts = allowed_hosts_field()


class SecretValueInputSerializer(EnvironmentValueInputSerializer):
    value = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )


class SecretValueStateSerializer(serializers.ModelSerializer[SecretValue]):
    """That a secret has a value in an environment, and since when: never the value."""

    environment_kind = EnvironmentKindField(source="environment.kind")

    class Meta:
        model = SecretValue
        fields = ["environment", "environment_kind", "updated_at"]
        read_only_fields = fields


class SecretOutputSerializer(serializers.ModelSerializer[Secret]):
    environments_with_value = SecretValueStateSerializer(source="values", many=True)

    class Meta:
        model = Secret
        fields = [
            "id",
            "name",
            "description",
            "allowed_hosts",
            "created_at",
            "environments_with_value",
        ]
        read_only_fields = fields


class VariableValueInputSerializer(EnvironmentValueInputSerializer):
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)


class VariableValueOutputSerializer(serializers.ModelSerializer[VariableValue]):
    environment_kind = EnvironmentKindField(source="environment.kind")

    class Meta:
        model = VariableValue
        fields = ["environment", "environment_kind", "value"]
        read_only_fields = fields


class VariableOutputSerializer(serializers.ModelSerializer[Variable]):
    values = VariableValueOutputSerializer(many=True)

    class Meta:
        model = Variable
        fields = ["id", "name", "description", "values"]
        read_only_fields = fields


class AuthConnectorInputSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=64)
    kind = AuthKindField()
    header_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    token_url = serializers.URLField(required=False, allow_blank=True)
    scope = serializers.CharField(max_length=300, required=False, allow_blank=True)
    allowed_hosts = allowed_hosts_field()


class AuthConnectorUpdateInputSerializer(FixedNameMixin, serializers.Serializer[None]):
    header_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    token_url = serializers.URLField(required=False, allow_blank=True)
    scope = serializers.CharField(max_length=300, required=False, allow_blank=True)
    allowed_hosts = allowed_hosts_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        sent = self.initial_data.get("kind") if isinstance(self.initial_data, dict) else None
        if sent is not None and sent != self.context["instance"].kind:
            raise serializers.ValidationError(
                {"kind": ["The kind cannot be changed after creation; create a new one instead."]}
            )
        return attrs


class AuthCredentialsInputSerializer(EnvironmentValueInputSerializer):
    credentials = serializers.DictField(
        child=serializers.CharField(trim_whitespace=False),
        write_only=True,
        help_text='Per kind: {"token"} / {"key"} / {"username", "password"} / '
        '{"client_id", "client_secret"}.',
    )


class AuthCredentialStateSerializer(serializers.ModelSerializer[AuthConnectorCredential]):
    environment_kind = EnvironmentKindField(source="environment.kind")

    class Meta:
        model = AuthConnectorCredential
        fields = ["environment", "environment_kind", "updated_at"]
        read_only_fields = fields


class AuthConnectorOutputSerializer(serializers.ModelSerializer[AuthConnector]):
    kind = AuthKindField()
    # Empty unless the kind is oauth2, so not declared as `format: uri` ("" is no URI).
    token_url = serializers.CharField(help_text="OAuth2 token endpoint; empty for other kinds.")
    environments_with_credentials = AuthCredentialStateSerializer(source="credentials", many=True)

    class Meta:
        model = AuthConnector
        fields = [
            "id",
            "name",
            "kind",
            "header_name",
            "token_url",
            "scope",
            "allowed_hosts",
            "environments_with_credentials",
        ]
        read_only_fields = fields


# Members -------------------------------------------------------------------------------------


class MemberCreateInputSerializer(serializers.Serializer[None]):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateInputSerializer(serializers.Serializer[None]):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberOutputSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "email", "role", "created_at"]
        read_only_fields = fields
