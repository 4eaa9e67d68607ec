"""Indexes only PostgreSQL can use for the station list (SQLite has no NULLS LAST in an index, nor pg_trgm):

- error rate descending with stations without a rate last, so sorting 50 000 stations that way needs no sort;
- trigram indexes on the upper-cased text the admin's case-insensitive search compares (Django's icontains is
  UPPER(column::text) LIKE UPPER('%…%')), so searching identity, serial, name, EVSE-ID or address needs no full scan.
pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
"""

from django.db import migrations

TRIGRAM_COLUMNS = [
    ("charging_chargepoint", "identity"), ("charging_chargepoint", "serial_number"),
    ("charging_chargepoint", "display_name"), ("charging_chargepoint", "system_name"),
    ("charging_evse", "public_id"), ("charging_location", "street_address"), ("charging_location", "city"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE INDEX IF NOT EXISTS chargepoint_error_rate_desc "
                          "ON charging_chargepoint (error_rate DESC NULLS LAST)")
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in TRIGRAM_COLUMNS:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {table}_{column}_trgm ON {table} "
                              f"USING gin ((UPPER({column}::text)) gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS chargepoint_error_rate_desc")
    for table, column in TRIGRAM_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("charging", "0005_board_operations_permissions")]

    operations = [migrations.RunPython(create, drop)]
