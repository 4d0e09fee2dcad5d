from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="extracted",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="call",
            name="extracted_by",
            field=models.CharField(blank=True, help_text="rules, or llm", max_length=10),
        ),
        migrations.AddField(
            model_name="call",
            name="extracted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
