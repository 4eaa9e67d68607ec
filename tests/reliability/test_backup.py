"""The documented backup (docs/reliability.md, "Backups") works: `pg_dump --format=custom` of a database with
charging and billing data, `pg_restore` into an empty database, and every table comes back with the same rows —
including the triggers that keep issued documents immutable. PostgreSQL only (CI); the embedded SQLite database is
backed up by copying its file.
"""

import os
import subprocess
import uuid
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from billing.models import Invoice, InvoiceLine, InvoiceSeries
from charging.models import ChargingSession
from charging.services.stations import charge_point_register
from tests.accounts.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump needs PostgreSQL")]


def conninfo(name: str | None = None) -> dict:
    settings = connection.settings_dict
    return {"host": settings["HOST"] or "127.0.0.1", "port": settings["PORT"] or 5432, "user": settings["USER"],
            "password": settings["PASSWORD"], "dbname": name or settings["NAME"]}


def table_counts(info: dict) -> dict[str, int]:
    with psycopg.connect(**info) as db:
        tables = [row[0] for row in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        return {table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def triggers(info: dict) -> set[str]:
    with psycopg.connect(**info) as db:
        return {row[0] for row in db.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}


def test_a_dump_restores_every_row_and_the_guards(tmp_path):
    org = OrganizationFactory(name="BRF Säkerhetskopian")
    buyer = MembershipFactory(organization=org).user
    station = charge_point_register(identity="BACKUP-1", organization=org, evses=2, acting_user=None, reason="test")
    ChargingSession.objects.create(charge_point=station, evse=station.evses.first(), organization=org, user=buyer,
                                   started_at="2026-10-03T17:00:00Z", stopped_at="2026-10-03T21:00:00Z",
                                   meter_start_wh=0, meter_stop_wh=11_000, energy_wh=11_000, status="completed")
    invoice = Invoice.objects.create(
        series=InvoiceSeries.objects.create(seller=org, prefix="7"), number=1, buyer=buyer, organization=org,
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), issue_date=date(2026, 11, 1),
        due_date=date(2026, 11, 30), currency="SEK", total=Decimal("44.00"), vat=Decimal("8.80"),
        taxable=Decimal("35.20"), ocr="7100", status="issued")
    InvoiceLine.objects.create(invoice=invoice, position=1, kind="subscription", buyer=buyer, description="Laddning",
                               quantity=Decimal("11.00"), unit="kWh", unit_price=Decimal("4.00"),
                               amount=Decimal("44.00"), vat_rate=Decimal("25.00"))
    source = conninfo()
    dump = tmp_path / "csms.dump"
    env = {**os.environ, "PGPASSWORD": source["password"] or ""}
    common = ["-h", str(source["host"]), "-p", str(source["port"]), "-U", source["user"]]
    subprocess.run(["pg_dump", *common, "--format=custom", "--no-owner", "-f", str(dump), source["dbname"]],
                   env=env, check=True, capture_output=True, timeout=120)
    restored = f"csms_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**source, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(["pg_restore", *common, "--no-owner", "--exit-on-error", "-d", restored, str(dump)],
                       env=env, check=True, capture_output=True, timeout=120)
        before, after = table_counts(source), table_counts(conninfo(restored))
        assert after == before
        assert before["billing_invoice"] == 1
        assert before["charging_chargingsession"] == 1
        assert {"billing_invoice_immutable", "billing_invoiceline_immutable",
                "billing_statement_immutable"} <= triggers(conninfo(restored))
    finally:
        with psycopg.connect(**source, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
