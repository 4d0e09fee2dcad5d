from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """`manage.py rotate_encryption_keys` re-encrypts the Twilio auth tokens too."""
        # Imported here: models can only be imported once the app registry is ready.
        from agents.config.services import encrypted_column_register
        from connectors.models import PhoneConnector

        encrypted_column_register(PhoneConnector, "twilio_auth_token_ciphertext")
