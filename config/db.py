"""Database-side promises shared by the apps' migrations (PostgreSQL; SQLite relies on the models)."""

from uuid import UUID

from django.db import migrations, models

from config.errors import NotFoundError

# Lets an operator (or a test database's teardown) empty an append-only table on purpose.
ALLOW_TRUNCATE_SETTING = "ledgerline.allow_truncate"


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL only; other databases keep the rule in the model layer."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


REFUSE_CHANGE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ledgerline_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('{ALLOW_TRUNCATE_SETTING}', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END $$;
"""


def append_only(table: str) -> PostgresOnlySQL:
    """Triggers that refuse UPDATE, DELETE and TRUNCATE on `table`."""
    return PostgresOnlySQL(
        sql=REFUSE_CHANGE_FUNCTION
        + f"""
CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledgerline_refuse_change();
CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION ledgerline_refuse_change();
""",
        reverse_sql=f"""
DROP TRIGGER IF EXISTS {table}_refuse_change ON {table};
DROP TRIGGER IF EXISTS {table}_refuse_truncate ON {table};
""",
    )


class ImmutableQuerySet(models.QuerySet):
    """Refuses bulk changes: rows of an append-only table are never updated or deleted."""

    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are immutable and cannot be updated.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are immutable and cannot be deleted.")


class ImmutableModel(models.Model):
    """A row that is written once: no save after create, no delete."""

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are immutable and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} rows are immutable and cannot be deleted.")


def for_outlet(queryset: models.QuerySet, outlet_id: UUID | None, path: str = "outlet_id") -> models.QuerySet:
    """The rows of one outlet; None means every outlet (staff)."""
    return queryset if outlet_id is None else queryset.filter(**{path: outlet_id})


def get_or_not_found(queryset: models.QuerySet, message: str, **lookup):
    """The one row matching `lookup`, or a NotFoundError saying what was not found."""
    row = queryset.filter(**lookup).first()
    if row is None:
        raise NotFoundError(message)
    return row
