"""Environments (Development / Staging / Production) and the values that differ per environment.

Secret values and auth-connector credentials are stored only as Fernet ciphertext.
"""

from django.core.validators import RegexValidator
from django.db import models

from agents.tenancy.models import Workspace

name_validator = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
    "Use letters, digits and underscores, starting with a letter (e.g. CRM_API_KEY).",
)


class EnvironmentKind(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class Environment(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="environments")
    kind = models.CharField(max_length=12, choices=EnvironmentKind.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind"], name="unique_environment_kind")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.get_kind_display()


ALLOWED_HOSTS_HELP = (
    "Host names (or *.example.com for subdomains) this may be sent to. Empty: sent nowhere."
)


class Secret(models.Model):
    """A value per environment; sent only in requests to `allowed_hosts` (set by admins)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64, validators=[name_validator])
    description = models.CharField(max_length=200, blank=True)
    allowed_hosts = models.JSONField(default=list, blank=True, help_text=ALLOWED_HOSTS_HELP)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_secret_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SecretValue(models.Model):
    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="values")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["secret", "environment"], name="unique_secret_value")
        ]

    def __str__(self) -> str:
        return f"{self.secret.name} [{self.environment}] = ••••••"


class Variable(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=64, validators=[name_validator])
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_variable_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VariableValue(models.Model):
    variable = models.ForeignKey(Variable, on_delete=models.CASCADE, related_name="values")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["variable", "environment"], name="unique_variable_value"
            )
        ]

    def __str__(self) -> str:
        return f"{self.variable.name} [{self.environment}]"


class EnvironmentWebhook(models.Model):
    """Where calls.postcall POSTs `call.ended` for calls in this environment. The signing
    secret is Fernet ciphertext; it is shown once when generated and never rendered back."""

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="webhook"
    )
    url = models.URLField(max_length=500, help_text="Receives a signed POST after each call.")
    enabled = models.BooleanField(default=True)
    secret_ciphertext = models.TextField()
    secret_rotated_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Webhook [{self.environment}] → {self.url}"


class AuthKind(models.TextChoices):
    BEARER = "bearer", "Bearer token"
    API_KEY = "api_key", "API key header"
    BASIC = "basic", "Basic auth"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_cc", "OAuth2 client credentials"


class AuthConnector(models.Model):
    """How API-call actions authenticate; the credentials themselves are per environment."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="auth_connectors"
    )
    name = models.CharField(max_length=64, validators=[name_validator])
    kind = models.CharField(max_length=12, choices=AuthKind.choices)
    header_name = models.CharField(
        max_length=100, blank=True, help_text="Header for API-key auth, e.g. X-API-Key."
    )
    token_url = models.URLField(blank=True, help_text="OAuth2 token endpoint.")
    scope = models.CharField(max_length=300, blank=True)
    allowed_hosts = models.JSONField(default=list, blank=True, help_text=ALLOWED_HOSTS_HELP)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_auth_connector")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AuthConnectorCredential(models.Model):
    """Encrypted JSON: {"token"} / {"key"} / {"username","password"} / {"client_id","client_secret"}."""

    auth_connector = models.ForeignKey(
        AuthConnector, on_delete=models.CASCADE, related_name="credentials"
    )
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["auth_connector", "environment"], name="unique_auth_credential"
            )
        ]

    def __str__(self) -> str:
        return f"{self.auth_connector.name} [{self.environment}] credentials"
