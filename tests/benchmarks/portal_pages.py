"""Portal benchmark: server time and query count of every tenant portal page for an association of 50 stations and
500 residents (issue 11: every page < 300 ms).

    .venv/bin/python -m tests.benchmarks.portal_pages [--runs 20] [--sessions 5000] [--explain]

Run on demand (see README.md next to this file); pytest never collects it. It builds a throw-away SQLite database in
DATA_DIR (a temporary directory unless DATA_DIR is set), fills it with bulk_create and the monthly invoice run, then
requests each page through django.test.Client as a board member (board pages), a resident (their own pages) or
nobody (the public start page) and prints median / p95 server time and the number of queries.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

TARGET_MS = 300
STATIONS = 50
RESIDENTS = 500
PRICE_INCL_VAT = Decimal("3.125")
STATUSES = ["Available"] * 60 + ["Charging"] * 20 + ["SuspendedEV"] * 5 + ["Faulted"] * 3 + ["Unavailable"] * 2


def prepare_environment() -> Path | None:
    """Point the settings at a fresh SQLite database before Django starts. Returns the directory to remove."""
    wanted = os.environ.get("DATA_DIR")
    if wanted:
        workdir, remove = Path(wanted), None
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        workdir = remove = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["DATA_DIR"] = str(workdir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    return remove


def configure_celery() -> None:
    """Queue tasks into memory: the invoice run's send tasks cost a list append (no worker, no PDF, no e-mail)."""
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
            "tariffs": [{"valid_from": "2025-01-01T00:00:00+01:00",
                         "tariff": {"name": "Bänktariff", "vat_mode": "excl", "vat_rate": "25"}}]}


def populate(sessions: int, seed: int = 11) -> dict:
    """One association (50 stations with 2 EVSEs, 500 residents with a tag each, groups, a fee, 12 months of priced
    sessions, open alarms, bookings), a second association so scoping has rows to skip, and last month invoiced.
    Returns the objects the scenarios need."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import IdToken, Membership, Organization, User, UserGroup
    from billing.models import RecurringFee, SessionCost
    from billing.services.invoicing import invoice_run
    from billing.services.tariffs import tariff_assign, tariff_create
    from charging.models import Alarm, Booking, ChargePoint, ChargingSession, Connector, Evse, Location

    rng = random.Random(seed)
    now = timezone.now()
    batch = 2000
    unusable = make_password(None)
    with transaction.atomic():
        Organization.objects.create(kind=Organization.Kind.OPERATOR, name="Operator AB", slug="operator")
        brf, other = Organization.objects.bulk_create([
            Organization(kind=Organization.Kind.ASSOCIATION, name="BRF Portalen", slug="brf-portalen"),
            Organization(kind=Organization.Kind.ASSOCIATION, name="BRF Grannen", slug="brf-grannen")])
        locations = Location.objects.bulk_create(
            Location(organization=org, name=f"Garage {k + 1}", street_address=f"Portalvägen {n * 10 + k}",
                     postal_code="123 45", city="Uppsala") for n, org in enumerate([brf, other]) for k in range(2))
        charge_points = ChargePoint.objects.bulk_create(
            ChargePoint(identity=f"PORTAL-{n:03d}", organization_id=location.organization_id, location=location,
                        display_name=f"Laddplats {n + 1:02d}", vendor="Zaptec", model="Go", firmware_version="2.1.0",
                        ocpp_version="1.6", is_connected=rng.random() < 0.9,
                        access_mode="public" if n == 0 else "private",
                        last_seen_at=now - timedelta(seconds=rng.randint(5, 3600)),
                        error_rate=round(rng.random() * 0.1, 4))
            for n, location in enumerate(locations[n // STATIONS * 2 + n % 2] for n in range(STATIONS * 2)))
        # Evse.public_code's default looks up a free code per row; 200 EVSEs make that 200 small queries.
        evses = Evse.objects.bulk_create(
            Evse(charge_point=cp, evse_id=k, public_id=f"SE*POR*E{n:03d}{k}")
            for n, cp in enumerate(charge_points) for k in (1, 2))
        Connector.objects.bulk_create(Connector(evse=evse, status=rng.choice(STATUSES)) for evse in evses)
        brf_points = [cp for cp in charge_points if cp.organization_id == brf.pk]
        brf_evses = [evse for evse in evses if evse.charge_point.organization_id == brf.pk]

        board = User.objects.create_user(email="styrelsen@bench.example", password="bench", first_name="Styrelse",
                                         last_name="Ordförande")
        Membership.objects.create(user=board, organization=brf, role=Membership.Role.ORG_ADMIN)
        users = User.objects.bulk_create(
            (User(email=f"boende{n:04d}@bench.example", first_name="Boende", last_name=f"{n:04d}",
                  mobile_number=f"+467012{n:05d}", password=unusable) for n in range(RESIDENTS + 50)), batch_size=batch)
        residents = users[:RESIDENTS]  # the other 50 live in the neighbouring association
        Membership.objects.bulk_create(
            (Membership(user=user, organization=brf if n < RESIDENTS else other, role=Membership.Role.RESIDENT,
                        reference=f"Lgh {1000 + n}") for n, user in enumerate(users)), batch_size=batch)
        resident = residents[0]
        resident.set_password("bench")
        resident.save(update_fields=["password"])
        IdToken.objects.bulk_create(
            (IdToken(uid=f"04B3{n:010X}", organization=brf if n < RESIDENTS else other, user=user,
                     visual_number=f"{n:06d}") for n, user in enumerate(users)), batch_size=batch)
        groups = UserGroup.objects.bulk_create(UserGroup(organization=brf, name=name)
                                               for name in ["Garage A", "Garage B", "Gäster", "Styrelsen"])
        through = UserGroup.members.through
        through.objects.bulk_create(
            (through(usergroup_id=groups[n % 3].pk, user_id=user.pk) for n, user in enumerate(residents)),
            batch_size=batch)
        RecurringFee.objects.bulk_create([RecurringFee(organization=brf, name="Laddplatsavgift",
                                                       amount=Decimal("250.00"))])
        Alarm.objects.bulk_create(
            Alarm(charge_point=cp, kind=rng.choice(list(Alarm.Kind)), severity=rng.choice(list(Alarm.Severity)),
                  opened_at=now - timedelta(hours=rng.randint(1, 200))) for cp in rng.sample(brf_points, 5))

        # Twelve months of sessions, more today (the dashboard's figures), all priced.
        seconds = 365 * 86_400
        rows = []
        for n in range(sessions):
            evse = rng.choice(brf_evses)
            user = resident if n % 50 == 0 else rng.choice(residents)
            started = now - timedelta(seconds=rng.randrange(3 * 3600, seconds)) if n % 100 else \
                now - timedelta(seconds=rng.randrange(3 * 3600, 6 * 3600))
            energy = rng.randint(1_000, 40_000)
            rows.append(ChargingSession(
                charge_point=evse.charge_point, evse=evse, organization_id=brf.pk, user=user, meter_start_wh=0,
                meter_stop_wh=energy, energy_wh=energy, started_at=started,
                stopped_at=started + timedelta(minutes=rng.randint(30, 170)),
                status=ChargingSession.Status.COMPLETED, transaction_id=str(n + 1)))
        rows = ChargingSession.objects.bulk_create(rows, batch_size=batch)
        SessionCost.objects.bulk_create(
            (SessionCost(session=session, currency="SEK", priced_at=now, **_cost(session.energy_wh))
             for session in rows), batch_size=batch)

        # Bookings: the last and the coming two weeks, two hours each, on the first ten EVSEs.
        bookings = []
        for k, evse in enumerate(brf_evses[:10]):
            for day in range(-14, 14):
                start = (now + timedelta(days=day)).replace(hour=8 + k % 10, minute=0, second=0, microsecond=0)
                bookings.append(Booking(evse=evse, user=resident if day % 7 == 0 else rng.choice(residents),
                                        starts_at=start, ends_at=start + timedelta(hours=2),
                                        status=Booking.Status.BOOKED if day >= 0 else Booking.Status.FULFILLED))
        Booking.objects.bulk_create(bookings)

    # Prices the groups page lists and the public start page quotes: a default and a guest tariff.
    # The station's tariff first: the default before it would make it a price rise under the 7 %/30-day rule.
    for name, price, target in (("Gästladdning", "4.50", {"charge_point": brf_points[0]}),
                                ("Boendepris", "2.50", {"organization": brf})):
        tariff = tariff_create(organization=brf, name=name, currency="SEK", energy_price_ac=Decimal(price),
                               energy_price_dc=Decimal(price), acting_user=None, reason="Benchmark", now=now)
        tariff_assign(tariff=tariff, valid_from=now, acting_user=None, reason="Benchmark", now=now, **target)
    local = timezone.localtime(now)
    last_month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    summary = invoice_run(period=last_month, now=now)
    return {"board": board, "resident": resident, "station": brf_points[0], "person": Membership.objects.get(
        user=residents[1], organization=brf), "group": groups[0], "evse": brf_evses[0], "invoices": summary.created,
        "sessions": len(rows), "bookings": len(bookings)}


# --- measuring -----------------------------------------------------------------------------------------------------
def scenarios(data: dict) -> list[tuple[str, str, str, dict]]:
    """(page, who, URL, query)."""
    from django.urls import reverse

    return [
        ("board: dashboard", "board", reverse("portal:dashboard"), {}),
        ("board: dashboard status JSON", "board", reverse("portal:dashboard_status"), {}),
        ("board: stations", "board", reverse("portal:stations"), {}),
        ("board: a station", "board", reverse("portal:station", args=[data["station"].pk]), {}),
        ("board: people", "board", reverse("portal:people"), {}),
        ("board: a person", "board", reverse("portal:people_person", args=[data["person"].pk]), {}),
        ("board: groups", "board", reverse("portal:groups"), {}),
        ("board: a group", "board", reverse("portal:groups_group", args=[data["group"].pk]), {}),
        ("board: fees", "board", reverse("portal:groups_fees"), {}),
        ("board: bookings", "board", reverse("portal:bookings"), {}),
        ("board: bookings calendar", "board", reverse("portal:bookings_calendar", args=[data["evse"].pk]), {}),
        ("board: reports", "board", reverse("portal:reports"), {}),
        ("board: reports utilization", "board", reverse("portal:reports_utilization"), {}),
        ("board: reports energy", "board", reverse("portal:reports_energy"), {}),
        ("board: reports sessions", "board", reverse("portal:reports_sessions"), {}),
        ("board: reports benefit", "board", reverse("portal:reports_benefit"), {}),
        ("board: reports errors", "board", reverse("portal:reports_errors"), {}),
        ("board: invoices", "board", reverse("portal:invoices"), {}),
        # The Connect API's session list as a signed-in board member sees it (first page, newest first).
        ("Connect API: sessions", "board", "/api/v1/sessions/", {}),
        ("resident: my sessions", "resident", reverse("portal:my_sessions"), {}),
        ("resident: my invoices", "resident", reverse("portal:my_invoices"), {}),
        ("resident: my tags", "resident", reverse("portal:my_tags"), {}),
        ("resident: my bookings", "resident", reverse("portal:my_bookings"), {}),
        ("public: start page (QR)", "anonymous", reverse("portal:public_start", args=[data["evse"].public_code]),
         {}),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(client, url: str, params: dict, runs: int, explain: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches: templates, translations, the database's pages
        response = client.get(url, params)
        assert response.status_code == 200, (url, params, response.status_code)
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url, params)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"time": 0, "sql": ""})
    if explain and slowest["sql"]:
        print(f"\n  {url}: slowest query ({float(slowest['time']) * 1000:.1f} ms): {slowest['sql'][:400]}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + slowest["sql"])
            for row in cursor.fetchall():
                print("   ", row[-1])
    return {"median": statistics.median(timings), "p95": percentile(timings, 0.95), "queries": len(queries),
            "sql_ms": sum(float(q["time"]) for q in queries.captured_queries) * 1000,
            "slowest_ms": float(slowest["time"]) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--sessions", type=int, default=5000, help="sessions over 12 months (default 5000)")
    parser.add_argument("--explain", action="store_true", help="print the plan of each page's slowest query")
    args = parser.parse_args()

    remove = prepare_environment()
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import override_settings

        configure_celery()
        call_command("migrate", verbosity=0)
        began = time.monotonic()
        data = populate(args.sessions)
        print(f"{STATIONS} stations ({STATIONS * 2} EVSEs), {RESIDENTS} residents with tags, {data['sessions']} "
              f"sessions, {data['invoices']} invoices, {data['bookings']} bookings built in "
              f"{time.monotonic() - began:.0f} s", flush=True)
        storages = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(ALLOWED_HOSTS=["testserver"], STORAGES=storages):
            clients = {"anonymous": Client(HTTP_ACCEPT_LANGUAGE="sv")}
            for who in ("board", "resident"):
                clients[who] = Client(HTTP_ACCEPT_LANGUAGE="sv")
                clients[who].force_login(data[who])
            rows = []
            for name, who, url, params in scenarios(data):
                rows.append((name, measure(clients[who], url, params, args.runs, args.explain)))
        print(f"\n{'page':32} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'SQL ms':>8} {'slowest':>8}  < 300 ms")
        for name, figures in rows:
            ok = "yes" if figures["p95"] < TARGET_MS else "NO"
            print(f"{name:32} {figures['median']:10.1f} {figures['p95']:8.1f} {figures['queries']:8d} "
                  f"{figures['sql_ms']:8.1f} {figures['slowest_ms']:8.1f}  {ok}")
        slow = [name for name, figures in rows if figures["p95"] >= TARGET_MS]
        print(f"\nTarget: every page p95 < {TARGET_MS} ms: {'met' if not slow else 'NOT met: ' + ', '.join(slow)}.")
        return 0 if not slow else 1
    finally:
        if remove:
            shutil.rmtree(remove, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
