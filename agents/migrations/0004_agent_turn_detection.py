from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_secret_allowed_hosts"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="turn_detection",
            field=models.CharField(
                choices=[
                    ("smart", "Smart: ends a finished sentence quickly, waits through pauses"),
                    ("silence", "Fixed silence (500 ms)"),
                ],
                default="smart",
                help_text="How the agent decides that the caller has finished speaking.",
                max_length=10,
            ),
        ),
    ]
