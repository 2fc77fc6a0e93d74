import django.db.models.deletion
from django.db import migrations, models


def built_in_utc(apps, schema_editor):
    """Every rollup so far was bucketed in UTC: an outlet in another zone is rebuilt in its own by the next run."""
    outlet_model, rollup_zone_model = apps.get_model("credits", "Outlet"), apps.get_model("analytics", "RollupZone")
    rollup_zone_model.objects.bulk_create(
        [rollup_zone_model(outlet_id=pk, timezone="UTC") for pk in outlet_model.objects.values_list("pk", flat=True)],
        batch_size=1000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0010_request_log_error_fields'),
        ('credits', '0008_holds_and_spend_controls'),
    ]

    operations = [
        migrations.CreateModel(
            name='RollupZone',
            fields=[
                ('outlet', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='rollup_zone', serialize=False, to='credits.outlet')),
                ('timezone', models.CharField(max_length=64)),
            ],
        ),
        migrations.AlterField(
            model_name='interactionagentdailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text='The local date, as its midnight UTC.'),
        ),
        migrations.AlterField(
            model_name='interactiondailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text='The local date, as its midnight UTC.'),
        ),
        migrations.AlterField(
            model_name='interactionstatusdailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text='The local date, as its midnight UTC.'),
        ),
        migrations.AlterField(
            model_name='usageagentdailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text="The local hour's first instant, or the local date's midnight UTC."),
        ),
        migrations.AlterField(
            model_name='usageagenttotalsdailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text='The local date, as its midnight UTC.'),
        ),
        migrations.AlterField(
            model_name='usagedailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text="The local hour's first instant, or the local date's midnight UTC."),
        ),
        migrations.AlterField(
            model_name='usagedimensiondailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text="The local hour's first instant, or the local date's midnight UTC."),
        ),
        migrations.AlterField(
            model_name='usageenduserdailyrollup',
            name='bucket',
            field=models.DateTimeField(help_text='The local date, as its midnight UTC.'),
        ),
        migrations.AlterField(
            model_name='usagehourlyrollup',
            name='bucket',
            field=models.DateTimeField(help_text="The local hour's first instant, or the local date's midnight UTC."),
        ),
        migrations.RunPython(built_in_utc, migrations.RunPython.noop),
    ]
