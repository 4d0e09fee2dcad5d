from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0005_agent_tests"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="extraction_fields",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
