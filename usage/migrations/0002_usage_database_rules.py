from django.db import migrations

from config.db import PostgresOnlySQL, append_only

INTERACTION_STATUS_FORWARD_ONLY = """
CREATE OR REPLACE FUNCTION usage_interaction_status_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> OLD.status AND OLD.status <> 'in_progress' THEN
        RAISE EXCEPTION 'interaction % is %: its status cannot move to %', OLD.interaction_id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER usage_interaction_status_forward BEFORE UPDATE OF status ON usage_interaction
    FOR EACH ROW EXECUTE FUNCTION usage_interaction_status_forward();
"""


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]

    operations = [
        append_only("usage_usagerecord"),
        PostgresOnlySQL(
            sql=INTERACTION_STATUS_FORWARD_ONLY,
            reverse_sql="DROP TRIGGER IF EXISTS usage_interaction_status_forward ON usage_interaction;"
            "DROP FUNCTION IF EXISTS usage_interaction_status_forward();",
        ),
        # `meta @> '{"key": "value"}'` filters, for any key.
        PostgresOnlySQL(
            sql="CREATE INDEX usage_meta_gin ON usage_usagerecord USING gin (meta jsonb_path_ops);",
            reverse_sql="DROP INDEX IF EXISTS usage_meta_gin;",
        ),
    ]
