import django.utils.timezone
from django.db import migrations, models

from config.db import PostgresOnlySQL

LEDGER = "credits_creditledgerentry"
# The append-only trigger refuses every UPDATE; the backfill is the one sanctioned rewrite, under the
# migration's exclusive lock, with the trigger back on before the transaction commits.
TRIGGER_OFF = f"ALTER TABLE {LEDGER} DISABLE TRIGGER {LEDGER}_refuse_change"
TRIGGER_ON = f"ALTER TABLE {LEDGER} ENABLE TRIGGER {LEDGER}_refuse_change"


class Migration(migrations.Migration):
    dependencies = [("credits", "0003_alerts_and_webhooks")]

    operations = [
        migrations.AlterField(
            model_name="creditledgerentry",
            name="created_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                editable=False,
                help_text="When the entry was posted; balances chain in this order.",
            ),
        ),
        migrations.AddField(
            model_name="creditledgerentry",
            name="effective_at",
            field=models.DateTimeField(null=True),
        ),
        PostgresOnlySQL(sql=TRIGGER_OFF, reverse_sql=TRIGGER_ON),
        # Entries posted before this column took effect when they were posted.
        migrations.RunSQL(sql=f"UPDATE {LEDGER} SET effective_at = created_at", reverse_sql=migrations.RunSQL.noop),
        PostgresOnlySQL(sql=TRIGGER_ON, reverse_sql=TRIGGER_OFF),
        migrations.AlterField(
            model_name="creditledgerentry",
            name="effective_at",
            field=models.DateTimeField(
                help_text="When the change took effect: a top-up's payment, a consumption's latest usage. Never after posting."
            ),
        ),
        migrations.AlterModelOptions(
            name="creditledgerentry",
            options={"ordering": ("-effective_at", "-id"), "verbose_name_plural": "credit ledger entries"},
        ),
        migrations.AddIndex(
            model_name="creditledgerentry",
            index=models.Index(fields=["outlet", "effective_at", "id"], name="ledger_outlet_effective"),
        ),
        migrations.AddConstraint(
            model_name="creditledgerentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("effective_at__lte", models.F("created_at"))),
                name="ledger_effective_not_after_posting",
            ),
        ),
    ]
