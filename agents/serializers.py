"""Input and output serializers of the agents API, one pair per endpoint.

Inputs validate the shape of what a client sends; outputs decide exactly what leaves the
server (never a secret value, a credential or ciphertext).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import (
    ActionKind,
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


def choice_field_class(choices, component_name: str) -> type[serializers.ChoiceField]:
    """A ChoiceField over `choices` whose schema is the named enum component: "kind" and
    "status" are different choice sets on different resources, so each gets its own name."""

    class NamedChoiceField(serializers.ChoiceField):
        def __init__(self, **kwargs):
            kwargs.setdefault("choices", choices.choices)
            super().__init__(**kwargs)

    NamedChoiceField.__name__ = NamedChoiceField.__qualname__ = f"{component_name}Field"
    schema = {"type": "string", "enum": list(choices.values)}
    return extend_schema_field(schema, component_name=component_name)(NamedChoiceField)


ActionKindField = choice_field_class(ActionKind, "ActionKind")
AuthKindField = choice_field_class(AuthKind, "AuthKind")
EnvironmentKindField = choice_field_class(EnvironmentKind, "EnvironmentKind")
VersionStatusField = choice_field_class(VersionStatus, "VersionStatus")


class WorkspacePrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A primary key that must name an object of the request's workspace (else "does not
    exist"), so ids of other workspaces cannot be probed or referenced."""

    def __init__(self, *, model, workspace_path: str = "workspace", **kwargs):
        self.model = model
        self.workspace_path = workspace_path
        super().__init__(queryset=model.objects.all(), **kwargs)

    def get_queryset(self):
        return self.model.objects.filter(**{self.workspace_path: self.context["workspace"]})


class FixedNameMixin:
    """Names are read-only after creation: templates and actions refer to them."""

    def validate(self, attrs):
        current = self.context["instance"].name
        sent = self.initial_data.get("name") if isinstance(self.initial_data, dict) else None
        if sent is not None and sent != current:
            raise serializers.ValidationError(
                {"name": ["The name cannot be changed after creation; create a new one instead."]}
            )
        return super().validate(attrs)


# Draft ---------------------------------------------------------------------------------------


class KnowledgeItemSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=2000)
    answer = serializers.CharField(max_length=4000)


class IntentSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    examples = serializers.ListField(child=serializers.CharField(max_length=500), allow_empty=False)
    response = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    action = serializers.CharField(max_length=63, required=False, allow_blank=True)


@extend_schema_field(KnowledgeItemSerializer(many=True))
class KnowledgeOutputField(serializers.JSONField):
    pass


@extend_schema_field(IntentSerializer(many=True))
class IntentsOutputField(serializers.JSONField):
    pass


class DraftInputSerializer(serializers.Serializer):
    """PUT: name is required, omitted fields keep their value."""

    name = serializers.CharField(max_length=120)
    language = serializers.CharField(max_length=16, required=False)
    voice = serializers.CharField(max_length=40, required=False)
    greeting = serializers.CharField(required=False, allow_blank=True)
    system_prompt = serializers.CharField(required=False, allow_blank=True)
    brain = serializers.ChoiceField(choices=Brain.choices, required=False)
    llm_model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    knowledge = KnowledgeItemSerializer(many=True, required=False)
    intents = IntentSerializer(many=True, required=False)


class DraftPatchInputSerializer(DraftInputSerializer):
    """PATCH: every field optional. (Not `partial=True`, which would also let list items skip
    their required keys.)"""

    name = serializers.CharField(max_length=120, required=False)


class DraftOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    language = serializers.CharField()
    voice = serializers.CharField()
    greeting = serializers.CharField()
    system_prompt = serializers.CharField()
    brain = serializers.ChoiceField(choices=Brain.choices)
    llm_model = serializers.CharField()
    knowledge = KnowledgeOutputField()
    intents = IntentsOutputField()
    updated_at = serializers.DateTimeField()


class LatestVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    label = serializers.CharField()
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
    def get_latest_version(self, agent) -> dict | None:
        number = getattr(agent, "latest_version_number", None)
        if number is None:
            return None
        return {
            "number": number,
            "label": f"v{number}",
            "status": agent.latest_version_status,
            "locked": bool(agent.latest_version_locked),
        }

    def get_latest_published_label(self, agent) -> str | None:
        number = getattr(agent, "latest_published_number", None)
        return None if number is None else f"v{number}"


# Versions ------------------------------------------------------------------------------------


class PublishInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class VersionOutputSerializer(serializers.ModelSerializer):
    label = serializers.CharField()
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


class AgentActionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    description = serializers.CharField()
    kind = ActionKindField()
    config = serializers.DictField(required=False, default=dict)


class AgentActionOutputSerializer(serializers.ModelSerializer):
    kind = ActionKindField()

    class Meta:
        model = AgentAction
        fields = ["id", "name", "description", "kind", "config"]
        read_only_fields = fields


# Environments, secrets, variables, auth connectors -------------------------------------------


class EnvironmentOutputSerializer(serializers.ModelSerializer):
    kind = EnvironmentKindField()
    name = serializers.CharField(source="get_kind_display")

    class Meta:
        model = Environment
        fields = ["id", "kind", "name"]
        read_only_fields = fields


class EnvironmentValueInputSerializer(serializers.Serializer):
    environment = WorkspacePrimaryKeyField(model=Environment)


class SecretInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SecretUpdateInputSerializer(FixedNameMixin, serializers.Serializer):
    description = serializers.CharField(max_length=200, allow_blank=True)


class SecretValueInputSerializer(EnvironmentValueInputSerializer):
    value = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )


class SecretValueStateSerializer(serializers.ModelSerializer):
    """That a secret has a value in an environment, and since when: never the value."""

    environment_kind = EnvironmentKindField(source="environment.kind")

    class Meta:
        model = SecretValue
        fields = ["environment", "environment_kind", "updated_at"]
        read_only_fields = fields


class SecretOutputSerializer(serializers.ModelSerializer):
    environments_with_value = SecretValueStateSerializer(source="values", many=True)

    class Meta:
        model = Secret
        fields = ["id", "name", "description", "created_at", "environments_with_value"]
        read_only_fields = fields


class VariableInputSerializer(SecretInputSerializer):
    pass


class VariableUpdateInputSerializer(SecretUpdateInputSerializer):
    pass


class VariableValueInputSerializer(EnvironmentValueInputSerializer):
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)


class VariableValueOutputSerializer(serializers.ModelSerializer):
    environment_kind = EnvironmentKindField(source="environment.kind")

    class Meta:
        model = VariableValue
        fields = ["environment", "environment_kind", "value"]
        read_only_fields = fields


class VariableOutputSerializer(serializers.ModelSerializer):
    values = VariableValueOutputSerializer(many=True)

    class Meta:
        model = Variable
        fields = ["id", "name", "description", "values"]
        read_only_fields = fields


class AuthConnectorInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    kind = AuthKindField()
    header_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    token_url = serializers.URLField(required=False, allow_blank=True)
    scope = serializers.CharField(max_length=300, required=False, allow_blank=True)


class AuthConnectorUpdateInputSerializer(FixedNameMixin, serializers.Serializer):
    header_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    token_url = serializers.URLField(required=False, allow_blank=True)
    scope = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate(self, attrs):
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


class AuthCredentialStateSerializer(serializers.ModelSerializer):
    environment_kind = EnvironmentKindField(source="environment.kind")

    class Meta:
        model = AuthConnectorCredential
        fields = ["environment", "environment_kind", "updated_at"]
        read_only_fields = fields


class AuthConnectorOutputSerializer(serializers.ModelSerializer):
    kind = AuthKindField()
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
            "environments_with_credentials",
        ]
        read_only_fields = fields


# Members -------------------------------------------------------------------------------------


class MemberCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberOutputSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "email", "role", "created_at"]
        read_only_fields = fields
