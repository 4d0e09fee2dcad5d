import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0006_agent_extraction_fields"),
    ]

    operations = [
        migrations.CreateModel(
            name="EnvironmentWebhook",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "url",
                    models.URLField(
                        help_text="Receives a signed POST after each call.", max_length=500
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("secret_ciphertext", models.TextField()),
                ("secret_rotated_at", models.DateTimeField(auto_now_add=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "environment",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook",
                        to="agents.environment",
                    ),
                ),
            ],
        ),
    ]
