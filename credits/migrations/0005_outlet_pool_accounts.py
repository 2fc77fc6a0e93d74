"""Accounts get their own key, an outlet and an optional agent, and every outlet gets its pool account.

The key column is renamed agent_id -> id in place, so an agent's account keeps its agent's id and the
ledger's and alerts' references follow it (PostgreSQL binds them to the column, SQLite's RENAME COLUMN
rewrites them); a new nullable agent_id column then names the agent.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

from config.db import PostgresOnlySQL

ACCOUNT = "credits_creditaccount"

# The functions of 0002 that read the account's key, now `id`.
BALANCE_FUNCTIONS = """
CREATE OR REPLACE FUNCTION credits_verify_balance(target uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cached numeric;
    latest numeric;
BEGIN
    SELECT balance INTO cached FROM credits_creditaccount WHERE {key} = target;
    SELECT balance_after INTO latest FROM credits_creditledgerentry
        WHERE account_id = target ORDER BY id DESC LIMIT 1;
    IF cached IS DISTINCT FROM COALESCE(latest, 0) THEN
        RAISE EXCEPTION 'balance of account % is % but its ledger ends at %', target, cached, COALESCE(latest, 0)
            USING ERRCODE = 'check_violation';
    END IF;
END $$;
CREATE OR REPLACE FUNCTION credits_account_balance_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM credits_verify_balance(NEW.{key});
    RETURN NULL;
END $$;
"""


def account_key_of_its_own(apps, schema_editor):
    """The agent's key column becomes the account's own: no longer a reference to an agent (a pool's id is none)."""
    account = apps.get_model("credits", "CreditAccount")
    if schema_editor.connection.vendor == "postgresql":
        for name in schema_editor._constraint_names(account, ["agent_id"], foreign_key=True):
            schema_editor.execute(schema_editor._delete_fk_sql(account, name))
    # SQLite keeps the column's REFERENCES clause until the table is rebuilt by the AddField below.
    schema_editor.execute(f"ALTER TABLE {ACCOUNT} RENAME COLUMN agent_id TO id")


def account_key_of_the_agent(apps, schema_editor):
    schema_editor.execute(f"ALTER TABLE {ACCOUNT} RENAME COLUMN id TO agent_id")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {ACCOUNT} ADD CONSTRAINT {ACCOUNT}_agent_id_fk_credits_agent_id FOREIGN KEY (agent_id) "
            "REFERENCES credits_agent (id) DEFERRABLE INITIALLY DEFERRED"
        )


def open_pool_accounts(apps, schema_editor):
    Outlet = apps.get_model("credits", "Outlet")
    CreditAccount = apps.get_model("credits", "CreditAccount")
    CreditAccount.objects.bulk_create(
        [CreditAccount(id=uuid.uuid4(), outlet_id=outlet_id) for outlet_id in Outlet.objects.values_list("pk", flat=True)]
    )


def close_pool_accounts(apps, schema_editor):
    # A pool with entries is protected by them: the migration cannot be undone once a pool was used.
    apps.get_model("credits", "CreditAccount").objects.filter(agent__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("credits", "0004_ledger_effective_at")]

    operations = [
        # Each foreign key checked as its row is written: ALTER TABLE refuses a table with checks pending.
        PostgresOnlySQL(sql="SET CONSTRAINTS ALL IMMEDIATE", reverse_sql="SET CONSTRAINTS ALL DEFERRED"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(account_key_of_its_own, account_key_of_the_agent)],
            state_operations=[
                migrations.RemoveField(model_name="creditaccount", name="agent"),
                migrations.AddField(
                    model_name="creditaccount",
                    name="id",
                    field=models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                    preserve_default=True,
                ),
            ],
        ),
        PostgresOnlySQL(sql=BALANCE_FUNCTIONS.format(key="id"), reverse_sql=BALANCE_FUNCTIONS.format(key="agent_id")),
        migrations.AddField(
            model_name="creditaccount",
            name="agent",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="account",
                to="credits.agent",
            ),
        ),
        migrations.RunSQL(sql=f"UPDATE {ACCOUNT} SET agent_id = id", reverse_sql=migrations.RunSQL.noop),
        migrations.AddField(
            model_name="creditaccount",
            name="outlet",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="credit_accounts",
                to="credits.outlet",
            ),
        ),
        migrations.RunSQL(
            sql=f"UPDATE {ACCOUNT} SET outlet_id = (SELECT outlet_id FROM credits_agent WHERE credits_agent.id = {ACCOUNT}.agent_id)",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="creditaccount",
            name="outlet",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="credit_accounts", to="credits.outlet"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditaccount",
            constraint=models.UniqueConstraint(
                condition=models.Q(("agent__isnull", True)), fields=("outlet",), name="credit_account_one_pool_per_outlet"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(("agent__isnull", True), ("agent", models.F("id")), _connector="OR"),
                name="credit_account_agent_id_is_account_id",
            ),
        ),
        migrations.RunPython(open_pool_accounts, close_pool_accounts),
        PostgresOnlySQL(sql="SET CONSTRAINTS ALL DEFERRED", reverse_sql="SET CONSTRAINTS ALL IMMEDIATE"),
    ]
