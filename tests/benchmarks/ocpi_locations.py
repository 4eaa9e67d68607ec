"""OCPI locations benchmark: server time of GET /ocpi/cpo/2.2.1/locations pages with 50 000 EVSEs in the database.

    .venv/bin/python -m tests.benchmarks.ocpi_locations [--evses 50000] [--per-site 10] [--runs 20]

Run on demand (see README.md next to this file); pytest never collects it. It builds a throw-away database the same
way as station_list (a SQLite file in a temporary directory, or ``<name>_station_bench`` on the PostgreSQL server
DATABASE_URL names), fills it with bulk_create — sites of ``--per-site`` EVSEs, four in five public, the others
private or semi-public — registers one eMSP, and requests pages through django.test.Client with the eMSP's token
(authentication, routing headers, the request log row, rendering; no network). Prints median / p95 and queries.
"""

import argparse
import base64
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from tests.benchmarks.station_list import drop_database, percentile, prepare_environment

TARGET_MS = 150
TOKEN_C = "bench-token-c"
STATUSES = ["Available"] * 70 + ["Charging"] * 20 + ["Finishing"] * 3 + ["Faulted"] * 2 + ["Unknown"] * 5


def populate(evses: int, per_site: int, seed: int = 9) -> int:
    """Sites, charge points of 2 EVSEs (one connector each), a registered eMSP. Returns the number of sites."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Organization
    from charging.models import ChargePoint, Connector, Evse, Location
    from roaming.models import OcpiParty, hash_token

    rng = random.Random(seed)
    now = timezone.now()
    batch = 2000
    sites = evses // per_site
    with transaction.atomic():
        organizations = Organization.objects.bulk_create(
            Organization(kind=Organization.Kind.ASSOCIATION, name=f"BRF Bänken {n:03d}", slug=f"brf-bench-{n:03d}")
            for n in range(max(sites // 4, 1)))
        locations = Location.objects.bulk_create(
            (Location(organization=organizations[n % len(organizations)], name=f"Garage {n}",
                      street_address=f"Bänkvägen {n}", postal_code="123 45", city="Stockholm",
                      latitude=59 + rng.random(), longitude=18 + rng.random(),
                      created_at=now - timedelta(days=400)) for n in range(sites)), batch_size=batch)
        charge_points = []
        for n, location in enumerate(locations):
            roll = rng.random()
            mode = "public" if roll < 0.8 else "private" if roll < 0.9 else "semi_public"
            for k in range(per_site // 2):
                charge_points.append(ChargePoint(
                    identity=f"OCPI-{n:05d}-{k}", organization_id=location.organization_id, location=location,
                    access_mode=mode, is_connected=rng.random() < 0.95, created_at=now - timedelta(days=300)))
        charge_points = ChargePoint.objects.bulk_create(charge_points, batch_size=batch)
        evse_rows = Evse.objects.bulk_create(
            (Evse(charge_point=cp, evse_id=k, public_id=f"SE*BEN*E{n:06d}{k}", public_code=f"B{n:06d}{k}",
                  status_at=now - timedelta(minutes=rng.randint(1, 60 * 24 * 30)))
             for n, cp in enumerate(charge_points) for k in (1, 2)), batch_size=batch)
        Connector.objects.bulk_create(
            (Connector(evse=evse, status=rng.choice(STATUSES), status_at=evse.status_at) for evse in evse_rows),
            batch_size=batch)
        OcpiParty.objects.create(name="Bench eMSP", country_code="NL", party_id="BEN", role="EMSP",
                                 status=OcpiParty.Status.REGISTERED, version="2.2.1", token_b="x",
                                 token_c_hash=hash_token(TOKEN_C))
    return sites


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(TOKEN_C.encode()).decode()}
    for _ in range(2):
        response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.content[:300])
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url, **headers)
        timings.append((time.perf_counter() - began) * 1000)
    body = response.json()
    assert body["status_code"] == 1000, body
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    return {"median": statistics.median(timings), "p95": percentile(timings, 0.95), "queries": len(queries),
            "locations": len(body["data"]), "evses": sum(len(item["evses"]) for item in body["data"]),
            "total": response.headers["X-Total-Count"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evses", type=int, default=50_000)
    parser.add_argument("--per-site", type=int, default=10, help="EVSEs per site, even (default 10)")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (default 20)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ocpi-bench-"))
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
        sites = populate(args.evses, args.per_site)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{args.evses} EVSEs at {sites} sites on {connection.vendor} built in {time.monotonic() - began:.0f} s",
              flush=True)
        evses_per_page = 100
        locations_per_page = max(evses_per_page // args.per_site, 1)
        base = "/ocpi/cpo/2.2.1/locations"
        scenarios = [
            (f"first page ({locations_per_page} locations)", f"{base}?limit={locations_per_page}"),
            (f"page in the middle ({locations_per_page})", f"{base}?limit={locations_per_page}&offset={sites // 2}"),
            (f"date_from last week ({locations_per_page})",
             f"{base}?limit={locations_per_page}&date_from={_days_ago(7)}"),
            ("100 locations", f"{base}?limit=100"),
        ]
        with override_settings(ALLOWED_HOSTS=["testserver"], OCPI_BASE_URL="https://csms.test/ocpi"):
            client = Client()
            rows = [(name, measure(client, url, args.runs)) for name, url in scenarios]
        print(f"\n{'page':34} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'locations':>10} {'EVSEs':>6} "
              f"{'total':>6}")
        for name, figures in rows:
            print(f"{name:34} {figures['median']:10.1f} {figures['p95']:8.1f} {figures['queries']:8d} "
                  f"{figures['locations']:10d} {figures['evses']:6d} {figures['total']:>6}")
        worst = max(figures["p95"] for name, figures in rows[:3])
        met = worst < TARGET_MS
        print(f"\nTarget for a page of {evses_per_page} EVSEs: < {TARGET_MS} ms. Worst p95 {worst:.0f} ms: "
              f"{'met' if met else 'NOT met'}.")
        return 0 if met else 1
    finally:
        if bench_database:
            drop_database(bench_database, original_url)
        shutil.rmtree(workdir, ignore_errors=True)


def _days_ago(days: int) -> str:
    from datetime import UTC, datetime

    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    sys.exit(main())
