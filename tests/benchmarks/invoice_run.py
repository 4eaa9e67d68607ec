"""Invoice run benchmark: one month's invoice run for 10 000 residents and 200 000 priced sessions, without PDFs.

    .venv/bin/python -m tests.benchmarks.invoice_run [--residents 10000] [--sessions 200000]

Run on demand (see README.md next to this file); pytest never collects it. It builds a throw-away database —
a SQLite file in a temporary directory, or, when DATABASE_URL names a PostgreSQL server, a separate database
``<name>_invoice_bench`` on it that is created and dropped here — fills it with bulk_create (an operator, 50
associations, residents with memberships, stopped sessions in March 2026 with their SessionCost rows, a recurring
fee for every fifth association), then times ``invoice_run`` for the period and prints wall time, invoices/s, peak
RSS of the process (ru_maxrss, which includes the seeding) and the number of SQL statements that went through
Django's cursor (on PostgreSQL the run's COPY of each batch's invoice lines, one per batch, is not among them).

E-mails: the run queues one send task per invoice after its batch commits. Celery is pointed at an in-memory broker
with eager execution off, so queuing costs a message in a Python list and no PDF is rendered or sent.
"""

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TARGET_SECONDS = 60
TARGET_RSS_MIB = 1024
ASSOCIATIONS = 50
PERIOD = (2026, 3)
PRICE_INCL_VAT = Decimal("2.50000")


# --- the throw-away database -------------------------------------------------------------------------------------
def _admin_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    admin_url = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    return psycopg.connect(admin_url, autocommit=True)


def prepare_environment(workdir: Path) -> str | None:
    """Point the settings at a fresh database before Django starts. Returns the PostgreSQL database to drop."""
    os.environ["DATA_DIR"] = str(workdir / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    os.environ.pop("REDIS_URL", None)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        os.environ.pop("DATABASE_URL", None)
        return None
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'csms'}_invoice_bench"
    with _admin_connect(url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    return name


def drop_database(name: str, url: str) -> None:
    from django.db import connections

    connections.close_all()
    with _admin_connect(url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure_celery() -> None:
    """Queue tasks into memory: no worker, no broker round trip, no PDF."""
    from csms.celery import app

    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://localhost/"
    app.conf.broker_transport_options = {}


# --- data ----------------------------------------------------------------------------------------------------------
def _cost(energy_wh: int) -> dict:
    kwh = Decimal(energy_wh) / 1000
    total = (kwh * PRICE_INCL_VAT).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    vat = (total * Decimal(20) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # 25 % on top = 20 % of gross
    net_price = (PRICE_INCL_VAT / Decimal("1.25")).quantize(Decimal("0.00001"))
    return {"energy_wh": energy_wh, "total_incl_vat": total, "total_vat": vat, "total_excl_vat": total - vat,
            "lines": [{"kind": "energy", "description": "Energi", "quantity": str(kwh), "unit": "kWh",
                       "unit_price": str(net_price), "amount": str(total - vat)}],
            "tariffs": [{"valid_from": "2026-01-01T00:00:00+01:00",
                         "tariff": {"name": "Bänktariff", "vat_mode": "excl", "vat_rate": "25"}}]}


def populate(residents: int, sessions: int, seed: int = 6) -> None:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Membership, Organization, User
    from billing.models import RecurringFee, SessionCost
    from charging.models import ChargePoint, ChargingSession, Connector, Evse, Location

    rng = random.Random(seed)
    zone = timezone.get_current_timezone()
    period_start = datetime(*PERIOD, 1, tzinfo=zone)
    seconds = 30 * 86_400
    batch = 2000
    unusable = make_password(None)
    with transaction.atomic():
        Organization.objects.create(kind=Organization.Kind.OPERATOR, name="Operator AB", slug="operator")
        associations = Organization.objects.bulk_create(
            Organization(kind=Organization.Kind.ASSOCIATION, name=f"BRF Fakturan {n:02d}", slug=f"brf-inv-{n:02d}")
            for n in range(ASSOCIATIONS))
        locations = Location.objects.bulk_create(
            Location(organization=org, name="Garage", street_address=f"Fakturavägen {n}", postal_code="123 45",
                     city="Uppsala") for n, org in enumerate(associations))
        charge_points = ChargePoint.objects.bulk_create(
            (ChargePoint(identity=f"INV-{n:02d}-{k:02d}", organization_id=loc.organization_id, location=loc,
                         display_name=f"Laddplats {k + 1:02d}")
             for n, loc in enumerate(locations) for k in range(20)), batch_size=batch)
        evses = Evse.objects.bulk_create((Evse(charge_point=cp, evse_id=1) for cp in charge_points), batch_size=batch)
        Connector.objects.bulk_create((Connector(evse=evse) for evse in evses), batch_size=batch)
        users = User.objects.bulk_create(
            (User(email=f"boende{n:05d}@bench.example", first_name="Boende", last_name=f"{n:05d}",
                  password=unusable, language="sv" if n % 5 else "en") for n in range(residents)), batch_size=batch)
        org_of = {user.pk: associations[n % ASSOCIATIONS] for n, user in enumerate(users)}
        Membership.objects.bulk_create(
            (Membership(user=user, organization=org_of[user.pk], role=Membership.Role.RESIDENT,
                        reference=f"Lgh {1000 + n % 300}") for n, user in enumerate(users)), batch_size=batch)
        RecurringFee.objects.bulk_create(
            RecurringFee(organization=org, name="Månadsavgift laddplats", amount=Decimal("250.00"))
            for n, org in enumerate(associations) if n % 5 == 0)
        evses_of: dict[int, list] = {}
        for cp, evse in zip(charge_points, evses, strict=True):
            evses_of.setdefault(cp.organization_id, []).append((cp, evse))
        for offset in range(0, sessions, 20_000):
            rows, costs = [], []
            for n in range(offset, min(sessions, offset + 20_000)):
                user = users[n % residents]
                cp, evse = rng.choice(evses_of[org_of[user.pk].pk])
                started = period_start + timedelta(seconds=rng.randrange(seconds))
                energy = rng.randint(1_000, 40_000)
                rows.append(ChargingSession(
                    charge_point=cp, evse=evse, organization_id=cp.organization_id, user=user, meter_start_wh=0,
                    meter_stop_wh=energy, energy_wh=energy, started_at=started,
                    stopped_at=started + timedelta(hours=rng.randint(1, 10)), status=ChargingSession.Status.COMPLETED,
                    transaction_id=str(n + 1)))
            rows = ChargingSession.objects.bulk_create(rows, batch_size=batch)
            now = timezone.now()
            for session in rows:
                costs.append(SessionCost(session=session, currency="SEK", priced_at=now, **_cost(session.energy_wh)))
            SessionCost.objects.bulk_create(costs, batch_size=batch)


# --- measuring -----------------------------------------------------------------------------------------------------
class QueryCounter:
    """A connection execute wrapper counting statements."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=200_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="invoice-bench-"))
    original_url = os.environ.get("DATABASE_URL", "")
    bench_database = prepare_environment(workdir)
    try:
        import django

        django.setup()
        configure_celery()
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        from billing.models import Invoice, InvoiceLine
        from billing.services.invoicing import invoice_run

        call_command("migrate", verbosity=0)
        began = time.monotonic()
        populate(args.residents, args.sessions)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{args.residents} residents, {args.sessions} sessions on {connection.vendor} "
              f"({connection.settings_dict['NAME']}) built in {time.monotonic() - began:.0f} s; "
              f"RSS after seeding {peak_rss_mib():.0f} MiB", flush=True)
        now = datetime(2026, 4, 1, 6, 0, tzinfo=timezone.get_current_timezone())
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            began = time.perf_counter()
            summary = invoice_run(period=PERIOD, now=now)
            elapsed = time.perf_counter() - began
        rss = peak_rss_mib()
        invoices = Invoice.objects.count()
        lines = InvoiceLine.objects.count()
        assert summary.created == invoices, (summary.created, invoices)
        assert summary.sessions == args.sessions, (summary.sessions, args.sessions)
        with connection.execute_wrapper(second := QueryCounter()):
            again = invoice_run(period=PERIOD, now=now)
        assert again.created == 0
        assert Invoice.objects.count() == invoices
        print(f"\n{'database':10} {'invoices':>9} {'lines':>8} {'wall s':>8} {'inv/s':>8} {'queries':>9} "
              f"{'q/inv':>6} {'peak RSS MiB':>13} {'rerun queries':>14}")
        print(f"{connection.vendor:10} {invoices:9d} {lines:8d} {elapsed:8.1f} {invoices / elapsed:8.0f} "
              f"{counter.count:9d} {counter.count / max(invoices, 1):6.1f} {rss:13.0f} {second.count:14d}")
        met = elapsed < TARGET_SECONDS and rss < TARGET_RSS_MIB
        print(f"\nTarget: < {TARGET_SECONDS} s and < {TARGET_RSS_MIB} MiB peak: {'met' if met else 'NOT met'}.")

        # The month's self-billing statements: every association gets a fee plan, then one statement run.
        from accounts.models import Organization
        from billing.models import BillingProfile, FeePlan, Statement
        from billing.services.statements import statement_run

        plan = FeePlan.objects.create(name="Standard 0,39", per_kwh=Decimal("0.39"))
        BillingProfile.objects.bulk_create(BillingProfile(organization=org, fee_plan=plan) for org in
                                           Organization.objects.filter(kind=Organization.Kind.ASSOCIATION))
        with connection.execute_wrapper(statements_counter := QueryCounter()):
            began = time.perf_counter()
            statements = statement_run(period=PERIOD, now=now + timedelta(days=29))
            statement_seconds = time.perf_counter() - began
        assert Statement.objects.count() == ASSOCIATIONS, (Statement.objects.count(), statements)
        print(f"\nstatement run: {ASSOCIATIONS} statements over {args.sessions} sessions in {statement_seconds:.1f} s "
              f"({ASSOCIATIONS / statement_seconds:.1f} statements/s, {statements_counter.count} queries)")
        return 0 if met else 1
    finally:
        if bench_database:
            drop_database(bench_database, original_url)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
