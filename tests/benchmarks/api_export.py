"""Streamed session export benchmark: GET /api/v1/exports/sessions.csv over 1 000 000 sessions in bounded memory.

    DATA_DIR=/tmp/as-bench .venv/bin/python -m tests.benchmarks.api_export [--sessions 1000000] [--tracemalloc]

Run on demand (see README.md next to this file); pytest never collects it. It builds a throw-away database — the
SQLite file in a fresh temporary directory under DATA_DIR (or the default temp dir), or, when DATABASE_URL names a
PostgreSQL server, a separate database ``<name>_export_bench`` created and dropped here — fills it with
bulk_create in chunks (every tenth session priced, so the export's join to SessionCost has rows), then streams the
export through django.test.Client with an API key, consuming ``response.streaming_content`` chunk by chunk and
counting the lines. It prints rows, seconds, rows/s, and the memory the export needed: growth of the peak RSS
(``ru_maxrss``; seeding goes in small chunks so the peak before the export is low) and, with ``--tracemalloc``,
the Python allocation peak during the export (slower). Target: < 200 MiB.
"""

import argparse
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TARGET_MIB = 200
CHUNK = 5000
CHARGE_POINTS = 20


def _admin_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, "")), autocommit=True)


def prepare_environment(workdir: Path) -> str | None:
    """Point the settings at a fresh database before Django starts. Returns the PostgreSQL database to drop."""
    os.environ["DATA_DIR"] = str(workdir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        os.environ.pop("DATABASE_URL", None)
        return None
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'csms'}_export_bench"
    with _admin_connect(url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    return name


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def populate(sessions: int) -> str:
    """An association with CHARGE_POINTS stations and ``sessions`` finished sessions; returns a read API key."""
    from django.db import transaction

    from accounts.models import Organization
    from accounts.services.api_keys import api_key_create
    from billing.models import SessionCost
    from charging.models import ChargePoint, ChargingSession, Evse, Location

    org = Organization.objects.create(name="BRF Benchmark", slug="brf-benchmark",
                                      kind=Organization.Kind.ASSOCIATION)
    location = Location.objects.create(organization=org, name="Garage", street_address="Bänkvägen 1",
                                       postal_code="123 45", city="Stockholm")
    evses = []
    for number in range(CHARGE_POINTS):
        charge_point = ChargePoint.objects.create(identity=f"EXPORT-{number:03d}", organization=org,
                                                  location=location, ocpp_version="1.6")
        evses.append(Evse.objects.create(charge_point=charge_point, evse_id=1))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made = 0
    while made < sessions:
        count = min(CHUNK, sessions - made)
        with transaction.atomic():
            rows = []
            for number in range(made, made + count):
                evse = evses[number % CHARGE_POINTS]
                began = start + timedelta(minutes=number)
                energy = 1000 + number % 20_000
                rows.append(ChargingSession(
                    charge_point_id=evse.charge_point_id, evse=evse, organization=org, started_at=began,
                    stopped_at=began + timedelta(minutes=45), meter_start_wh=0, meter_stop_wh=energy,
                    energy_wh=energy, transaction_id=str(number), id_token_uid=f"04A1{number % 5000:08X}",
                    stop_reason="EVDisconnected", status=ChargingSession.Status.COMPLETED, created_at=began))
            created = ChargingSession.objects.bulk_create(rows)
            if created[0].pk is None:  # backends that do not return ids
                created = list(ChargingSession.objects.filter(transaction_id__in=[r.transaction_id for r in rows],
                                                              organization=org))
            SessionCost.objects.bulk_create(
                SessionCost(session=row, currency="SEK", energy_wh=row.energy_wh,
                            total_excl_vat=Decimal("19.00"), total_vat=Decimal("4.75"),
                            total_incl_vat=Decimal("23.75"), priced_at=row.stopped_at)
                for row in created[::10])
        made += count
        del rows, created
        if made % 100_000 == 0:
            print(f"  {made} sessions", flush=True)
    gc.collect()
    return api_key_create(organization=org, name="export benchmark", scopes=["read"], acting_user=None,
                          reason="benchmark").raw_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    args = parser.parse_args()

    base = os.environ.get("DATA_DIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="export-bench-", dir=base or None))
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
        raw_key = populate(args.sessions)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{args.sessions} sessions on {connection.vendor} ({connection.settings_dict['NAME']}) built in "
              f"{time.monotonic() - began:.0f} s", flush=True)

        with override_settings(ALLOWED_HOSTS=["testserver"], CSMS_API_RATE="1000/min"):
            client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            gc.collect()
            rss_before = peak_rss_mib()
            if args.tracemalloc:
                tracemalloc.start()
            began = time.perf_counter()
            response = client.get("/api/v1/exports/sessions.csv")
            assert response.status_code == 200, response.status_code
            assert response.streaming, "the export must be a streaming response"
            lines = chunks = size = 0
            largest_chunk = 0
            for chunk in response.streaming_content:
                chunks += 1
                size += len(chunk)
                largest_chunk = max(largest_chunk, len(chunk))
                lines += chunk.count(b"\n")
            response.close()
            seconds = time.perf_counter() - began
            traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
            if args.tracemalloc:
                tracemalloc.stop()
            rss_after = peak_rss_mib()
        rows = lines - 1  # the header
        assert rows == args.sessions, f"exported {rows} rows, expected {args.sessions}"
        growth = rss_after - rss_before
        print(f"\nrows {rows}  seconds {seconds:.1f}  rows/s {rows / seconds:,.0f}  bytes {size:,}  chunks {chunks} "
              f"(largest {largest_chunk:,} B)")
        print(f"peak RSS before the export {rss_before:.0f} MiB, after {rss_after:.0f} MiB: growth "
              f"{growth:.1f} MiB" + (f"; tracemalloc peak {traced_peak:.1f} MiB" if traced_peak is not None else ""))
        met = growth < TARGET_MIB and (traced_peak is None or traced_peak < TARGET_MIB)
        print(f"Target: < {TARGET_MIB} MiB for the export: {'met' if met else 'NOT met'}.")
        return 0 if met else 1
    finally:
        if bench_database:
            from django.db import connections

            connections.close_all()
            with _admin_connect(original_url) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{bench_database}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
