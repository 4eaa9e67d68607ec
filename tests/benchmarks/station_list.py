"""Station list benchmark: server time and query count of the admin's monitoring list with 50 000 charge points.

    .venv/bin/python -m tests.benchmarks.station_list [--stations 50000] [--runs 20] [--explain]

Run on demand (see README.md next to this file); pytest never collects it. It builds a throw-away database —
a SQLite file in a temporary directory, or, when DATABASE_URL names a PostgreSQL server, a separate database
``<name>_station_bench`` on it that is created and dropped here — fills it with bulk_create, then requests each
page through django.test.Client as an operator support user and prints median / p95 of the time spent serving
it (middleware, views, queries, templates; no network) and the number of queries.
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
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TARGET_MS = 300
TARGET_QUERIES = 12
ORGANIZATIONS = 250
LOCATIONS_PER_ORGANIZATION = 4
HARDWARE = [("Zaptec", "Go", "2.1.0"), ("Zaptec", "Pro", "1.9.3"), ("Easee", "Home", "3.4.1"),
            ("Easee", "Charge", "3.4.1"), ("ABB", "Terra AC", "1.6.6"), ("Alfen", "Eve Single", "6.4.0"),
            ("Wallbox", "Pulsar Plus", "5.17.1"), ("Garo", "GLB+", "4.2")]
STATUSES = ["Available"] * 60 + ["Charging"] * 15 + ["SuspendedEV"] * 5 + ["Preparing"] * 4 + ["Finishing"] * 3 \
    + ["Unavailable"] * 5 + ["Faulted"] * 3 + ["Unknown"] * 5


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
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        os.environ.pop("DATABASE_URL", None)
        return None
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'csms'}_station_bench"
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


# --- data ----------------------------------------------------------------------------------------------------------
def populate(stations: int, seed: int = 4):
    """Organizations, sites, charge points with 1-2 EVSEs (one connector each), alarms and today's sessions, all
    written with bulk_create. Returns the operator support user."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Membership, Organization, User
    from charging.models import Alarm, ChargePoint, ChargingSession, Connector, Evse, Location

    rng = random.Random(seed)
    now = timezone.now()
    batch = 2000
    with transaction.atomic():
        operator = Organization.objects.create(kind=Organization.Kind.OPERATOR, name="Operator AB", slug="operator")
        user = User.objects.create_user(email="support@bench.example", password="bench", is_staff=True)
        Membership.objects.create(user=user, organization=operator, role=Membership.Role.OPERATOR_SUPPORT)
        organizations = Organization.objects.bulk_create(
            Organization(kind=Organization.Kind.ASSOCIATION, name=f"BRF Bänken {n:03d}", slug=f"brf-bench-{n:03d}")
            for n in range(ORGANIZATIONS))
        locations = Location.objects.bulk_create(
            Location(organization=organization, name=f"Garage {k + 1}", street_address=f"Bänkvägen {n * 10 + k}",
                     postal_code=f"1{n:02d} {k:02d}", city=rng.choice(["Stockholm", "Uppsala", "Göteborg", "Malmö"]))
            for n, organization in enumerate(organizations) for k in range(LOCATIONS_PER_ORGANIZATION))
        charge_points = []
        for n in range(stations):
            location = locations[n % len(locations)]
            vendor, model, firmware = HARDWARE[n % len(HARDWARE)]
            connected = rng.random() < 0.9
            roll = rng.random()
            charge_points.append(ChargePoint(
                identity=f"BENCH-{n:05d}", organization_id=location.organization_id, location=location,
                display_name=f"Laddplats {n % 40 + 1:02d}", system_name=f"SYS-{n:05d}", serial_number=f"SN{n:08d}",
                vendor=vendor, model=model, firmware_version=firmware, ocpp_version=rng.choice(["1.6", "2.0.1"]),
                is_connected=connected, last_seen_at=now - timedelta(seconds=rng.randint(5, 86_400 * 3)),
                locked_box=rng.random() < 0.3, access_mode=rng.choice(["private", "private", "public"]),
                error_rate=(None if roll < 0.2 else 0 if roll < 0.8 else round(rng.random() * 0.5, 4)),
                decommissioned_at=now - timedelta(days=30) if rng.random() < 0.01 else None))
        charge_points = ChargePoint.objects.bulk_create(charge_points, batch_size=batch)
        evses = Evse.objects.bulk_create(
            (Evse(charge_point=cp, evse_id=k, public_id=f"SE*BEN*E{n:05d}{k}")
             for n, cp in enumerate(charge_points) for k in range(1, 2 + (n % 3 == 0))), batch_size=batch)
        Connector.objects.bulk_create((Connector(evse=evse, status=rng.choice(STATUSES)) for evse in evses),
                                      batch_size=batch)
        alarms = []
        for cp in rng.sample(charge_points, stations // 20):
            kind = rng.choice(list(Alarm.Kind))
            closed = rng.random() < 0.5
            alarms.append(Alarm(charge_point=cp, kind=kind, severity=rng.choice(list(Alarm.Severity)),
                                opened_at=now - timedelta(hours=rng.randint(1, 200)),
                                closed_at=now if closed else None))
        Alarm.objects.bulk_create(alarms, batch_size=batch)
        start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        seconds_today = max(int((now - start_of_day).total_seconds()), 1)
        sessions = []
        by_id = {cp.pk: cp for cp in charge_points}
        for evse in rng.sample(evses, min(len(evses), stations // 10)):
            cp = by_id[evse.charge_point_id]
            sessions.append(ChargingSession(
                charge_point=cp, evse=evse, organization_id=cp.organization_id, meter_start_wh=0,
                started_at=start_of_day + timedelta(seconds=rng.randrange(seconds_today)),
                energy_wh=rng.randint(500, 40_000), status=ChargingSession.Status.COMPLETED))
        ChargingSession.objects.bulk_create(sessions, batch_size=batch)
    return user


# --- measuring -----------------------------------------------------------------------------------------------------
def scenarios() -> list[tuple[str, str, dict]]:
    from django.urls import reverse

    from charging.models import ChargePoint, Location

    changelist = reverse("admin:charging_chargepoint_changelist")
    list_display = ["action_checkbox", "identity", "serial", "display_name", "system_name", "locked_box", "mode",
                    "network", "status_text", "owner", "site", "ocpp_version", "error_rate_percent",
                    "open_alarms", "row_actions"]
    organization = Location.objects.order_by("pk")[LOCATIONS_PER_ORGANIZATION * 7].organization_id
    first_page = list(ChargePoint.objects.order_by("identity").values_list("pk", flat=True)[:100])
    return [
        ("list: default page", changelist, {}),
        ("list: page 200", changelist, {"p": "200"}),
        ("list: filter connected = no", changelist, {"is_connected__exact": "0"}),
        ("list: filter connector Faulted", changelist, {"connector_status": "Faulted"}),
        ("list: filter owner + open alarms", changelist, {"organization__id__exact": organization,
                                                          "open_alarms": "yes"}),
        ("list: filter error rate >= 25 %", changelist, {"error_rate": "25"}),
        ("list: search identity", changelist, {"q": "BENCH-04711"}),
        ("list: search EVSE-ID", changelist, {"q": "SE*BEN*E123451"}),
        ("list: search address", changelist, {"q": "Bänkvägen 1234"}),
        ("list: sort error rate desc", changelist, {"o": f"-{list_display.index('error_rate_percent')}"}),
        ("live-status (100 ids)", reverse("admin:charging_chargepoint_live_status"),
         {"ids": ",".join(map(str, first_page))}),
        ("dashboard (admin index)", reverse("admin:index"), {}),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(client, url: str, params: dict, runs: int, explain: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches: templates, the database's pages
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
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
    if explain:
        print(f"\n  slowest query ({float(slowest['time']) * 1000:.1f} ms): {slowest['sql'][:400]}")
        with connection.cursor() as cursor:
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + slowest["sql"])
            for row in cursor.fetchall():
                print("   ", row[-1] if connection.vendor == "sqlite" else row[0])
    return {"median": statistics.median(timings), "p95": percentile(timings, 0.95), "queries": len(queries),
            "sql_ms": sum(float(q["time"]) for q in queries.captured_queries) * 1000,
            "slowest_ms": float(slowest["time"]) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--explain", action="store_true", help="print the plan of each page's slowest query")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="station-bench-"))
    original_url = os.environ.get("DATABASE_URL", "")
    bench_database = prepare_environment(workdir)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import override_settings

        call_command("migrate", verbosity=0)
        began = time.monotonic()
        user = populate(args.stations)
        if connection.vendor == "postgresql":
            # Autovacuum analyzes freshly loaded tables within a minute; without statistics the planner guesses.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{args.stations} charge points on {connection.vendor} "
              f"({connection.settings_dict['NAME']}) built in {time.monotonic() - began:.0f} s", flush=True)
        storages = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(ALLOWED_HOSTS=["testserver"], STORAGES=storages):
            client = Client(HTTP_ACCEPT_LANGUAGE="en")
            client.force_login(user)
            rows = []
            for name, url, params in scenarios():
                if args.explain:
                    print(f"\n{name}")
                rows.append((name, measure(client, url, params, args.runs, args.explain)))
        print(f"\n{'page':36} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'SQL ms':>8} {'slowest':>8}")
        for name, figures in rows:
            print(f"{name:36} {figures['median']:10.1f} {figures['p95']:8.1f} {figures['queries']:8d} "
                  f"{figures['sql_ms']:8.1f} {figures['slowest_ms']:8.1f}")
        list_rows = [figures for name, figures in rows if name.startswith("list:")]
        worst_p95 = max(figures["p95"] for figures in list_rows)
        most_queries = max(figures["queries"] for figures in list_rows)
        met = worst_p95 < TARGET_MS and most_queries <= TARGET_QUERIES
        print(f"\nTarget for the list: < {TARGET_MS} ms and <= {TARGET_QUERIES} queries. Worst list p95 "
              f"{worst_p95:.0f} ms, most queries {most_queries}: {'met' if met else 'NOT met'}.")
        return 0 if met else 1
    finally:
        if bench_database:
            drop_database(bench_database, original_url)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
