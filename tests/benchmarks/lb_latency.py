"""Load-balancing latency on a live server: from a charger's meter value (or a session start or stop) to the new
SetChargingProfile at that charger and at every charger whose limit changed.

    .venv/bin/python -m tests.benchmarks.lb_latency [--backend embedded|postgres|both] [--evses 24] [--rounds 50]

Run on demand (see README.md next to this file); pytest never collects it. Each backend gets its own daphne (SQLite
in a temp DATA_DIR, or PostgreSQL + a private redis-server), a DYNAMIC site of N three-phase 16 A EVSEs on N chargers
(half OCPP 1.6, half 2.0.1) and simulated chargers (tests.conformance.clients) on real websockets. Which chargers
must get a profile after each event is worked out here with the same pure engine (loadbalancing.engine) and the
plan's hysteresis rule, and every profile received is checked against it. Figures are printed, nothing asserts.
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from deploy.cluster import web_command
from tests.benchmarks.ocpp_load import percentile, stop
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH_DB = "csms_bench_lb"  # not ocpp_load's database: both may run at once
PG_ADMIN_URL = "postgresql://csms:csms@127.0.0.1:5432/postgres"
KEY = "lb-latency-benchmark-authorization-key"
TARGET = 1.0  # s, from the issue: meter value → profile sent
EVSE_MAX = Decimal(16)
MIN_CURRENT = Decimal(6)
HYSTERESIS = Decimal(1)
LOW, HIGH = Decimal(3), Decimal(16)  # measured Current.Import of a car drawing little / all it may
HIGH_SHARE = Decimal("12.5")  # what each fully drawing car gets: the fuse limits it below 16 A
WAIT = 10.0  # s: an expected profile later than this counts as missing
SETTLE = 0.3  # s after the last expected profile, to catch late or stray ones before the next event


def identity(index: int) -> str:
    return f"LBBENCH-{index:03d}"


def tag(index: int) -> str:
    return f"1B{index:06X}"  # hexadecimal: a valid RFID uid


def version(index: int) -> str:
    return "1.6" if index % 2 == 0 else "2.0.1"


def low_cars(evses: int) -> list[int]:
    """Pairs 0-1, 4-5, 8-9…: both OCPP versions among the cars drawing little and among those drawing a lot."""
    return [index for index in range(evses) if (index // 2) % 2 == 0]


def fuse(evses: int) -> Decimal:
    """The root fuse per phase: the low cars held at the minimum, every other car gets HIGH_SHARE (< 16 A)."""
    low = len(low_cars(evses))
    return MIN_CURRENT * low + HIGH_SHARE * (evses - low)


# --- the server's database (runs in a subprocess with the server's environment) ---------------------------------
def setup_database(evses: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from accounts.services.organizations import organization_create
    from accounts.services.tokens import id_token_issue
    from charging.services.stations import charge_point_register
    from loadbalancing.models import EvseWiring, Mode, PowerGroup

    call_command("migrate", verbosity=0)
    limit = fuse(evses)
    with transaction.atomic():
        organization = organization_create(kind="association", name="BRF Lastbalans", slug="lb-bench",
                                           acting_user=None, reason="benchmark")
        # No service creates power groups or wirings (the admin saves them): as in the conformance tests.
        root = PowerGroup.objects.create(organization=organization, name="Huvudsäkring", limit_l1=limit,
                                         limit_l2=limit, limit_l3=limit, mode=Mode.DYNAMIC, hysteresis=HYSTERESIS,
                                         min_current=MIN_CURRENT)
        for index in range(evses):
            station = charge_point_register(identity=identity(index), organization=organization, evses=1,
                                            auth_key=KEY, acting_user=None, reason="benchmark")
            EvseWiring.objects.create(evse=station.evses.get(), group=root, phases=3, rotation="123",
                                      max_current=EVSE_MAX)
            id_token_issue(organization=organization, uid=tag(index), acting_user=None, reason="benchmark")


def _admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(statement)


class Server:
    """daphne on csms.asgi with a fresh database: SQLite in ``workdir`` or PostgreSQL + a private redis-server."""

    def __init__(self, backend: str, workdir: Path, evses: int):
        self.backend, self.evses = backend, evses
        self.workdir = workdir / backend
        self.workdir.mkdir()
        self.process = self.redis = self.log = None
        self.database_created = False

    def environment(self) -> dict:
        env = {key: value for key, value in os.environ.items()
               if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
        env.update({"DATA_DIR": str(self.workdir / "data"), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
        if self.backend == "postgres":
            env["DATABASE_URL"] = f"postgres://csms:csms@127.0.0.1:5432/{BENCH_DB}"
            env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        return env

    def start(self) -> str:
        if self.backend == "postgres":
            self.redis_port = free_port()
            self.redis = subprocess.Popen([shutil.which("redis-server"), "--bind", "127.0.0.1", "--port",
                                           str(self.redis_port), "--save", "", "--appendonly", "no"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_port(self.redis_port, self.redis)
            _admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            _admin_sql(f"CREATE DATABASE {BENCH_DB}")
            self.database_created = True
        env = self.environment()
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "tests.benchmarks.lb_latency", "--setup", str(self.evses)], cwd=ROOT,
                       env=env, check=True, timeout=600)
        print(f"  [{self.backend}] migrated, site of {self.evses} EVSEs set up in {time.monotonic() - began:.0f} s",
              flush=True)
        port = free_port()
        self.log = (self.workdir / "server.log").open("w")
        self.process = subprocess.Popen(web_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_for_port(port, self.process)
        return f"ws://127.0.0.1:{port}"

    def stop(self) -> None:
        stop(self.process)
        if self.log:
            self.log.close()
            lines = (self.workdir / "server.log").read_text(errors="replace").splitlines()
            problems = [line for line in lines if "ERROR" in line or "Traceback" in line or "WARNING" in line]
            if problems:
                print(f"  [{self.backend}] server log: {len(problems)} warning/error line(s), e.g.:")
                for line in problems[:5]:
                    print(f"    {line[:200]}")
        stop(self.redis)
        if self.database_created:
            try:
                _admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            except Exception as exc:
                print(f"  could not drop {BENCH_DB}: {exc}")


# --- the site as the chargers see it ----------------------------------------------------------------------------
def profile_limit(profile: dict) -> Decimal:
    schedule = profile["charging_schedule"]
    if isinstance(schedule, list):  # 2.0.1: a list of schedules
        schedule = schedule[0]
    return Decimal(str(schedule["charging_schedule_period"][0]["limit"]))


@dataclass
class Latencies:
    trigger: list[float] = field(default_factory=list)  # (a) the charger that caused it
    changed: list[float] = field(default_factory=list)  # (b) every charger that had to get a new limit
    told: list[int] = field(default_factory=list)  # how many chargers besides the trigger (b) covered
    quiet: int = 0  # events after which no other charger had to be told (a raise within the hysteresis)
    missing: int = 0  # expected profiles that did not arrive within WAIT
    wrong: int = 0  # profiles with another limit than the engine gives
    stray: int = 0  # profiles at chargers whose limit did not have to change


class Site:
    """The simulated chargers, and what the server should allocate: the same pure engine on the same input (one
    root group, every EVSE three-phase on L1-L2-L3, sessions in start order, the currents the chargers reported)."""

    def __init__(self, evses: int):
        self.evses = evses
        self.fuse = fuse(evses)
        self.chargers: list = [None] * evses
        self.tx: dict[int, object] = {}
        self.seq: dict[int, int] = {}
        self.order: dict[int, int] = {}  # session start order (= session pk order on the server)
        self.measured: dict[int, Decimal] = {}  # the dispatcher keeps the last report per EVSE, across sessions
        self.confirmed: dict[int, Decimal] = {}  # last limit each charger accepted for its running session
        self.energy: dict[int, int] = {}
        self.started = 0

    def allocation(self) -> dict[int, Decimal]:
        from loadbalancing import engine

        groups = [engine.Group(id="root", parent=None, limit=(self.fuse,) * 3)]
        demands = [engine.Demand(evse=str(index), group="root", wiring=(1, 2, 3), max_current=EVSE_MAX,
                                 min_current=MIN_CURRENT, measured=self.measured.get(index),
                                 started_order=self.order[index]) for index in self.tx]
        limits = engine.allocate(groups=groups, demands=demands, mode=engine.Mode.DYNAMIC).limits
        return {int(evse): limit for evse, limit in limits.items()}

    def to_send(self) -> dict[int, Decimal]:
        """The plan's rule: a new session's limit, a lower one, or one that grew by more than the hysteresis."""
        sends = {}
        for index, limit in self.allocation().items():
            known = self.confirmed.get(index)
            if known is None or limit < known or limit - known > HYSTERESIS:
                sends[index] = limit
        return sends

    async def connect(self, url: str, stack: contextlib.AsyncExitStack) -> None:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        from tests.conformance.clients import Charger16, Charger201, connected

        for index in range(self.evses):
            charger_class = Charger16 if version(index) == "1.6" else Charger201
            charger = await stack.enter_async_context(connected(url, identity(index), version=version(index),
                                                                key=KEY, charger_class=charger_class))
            self.chargers[index] = charger
            if version(index) == "1.6":
                await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
            else:
                await charger.call(call201.BootNotification(charging_station={"vendor_name": "Easee",
                                                                              "model": "Charge"}, reason="PowerUp"))

    async def start(self, index: int) -> None:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        charger, now = self.chargers[index], _ts()
        self.started += 1
        self.order[index] = self.started
        self.energy[index] = 0
        self.confirmed.pop(index, None)
        if version(index) == "1.6":
            self.tx[index] = "pending"
            answer = await charger.call(call16.StartTransaction(connector_id=1, id_tag=tag(index), meter_start=0,
                                                                timestamp=now))
            if answer.id_tag_info["status"] != "Accepted":
                raise RuntimeError(f"StartTransaction on {identity(index)}: {answer.id_tag_info}")
            self.tx[index] = answer.transaction_id
        else:
            tx = uuid.uuid4().hex
            self.tx[index], self.seq[index] = tx, 0
            answer = await charger.call(call201.TransactionEvent(
                event_type="Started", timestamp=now, trigger_reason="Authorized", seq_no=0,
                transaction_info={"transaction_id": tx}, evse={"id": 1, "connector_id": 1},
                id_token={"id_token": tag(index), "type": "ISO14443"}))
            if answer.id_token_info["status"] != "Accepted":
                raise RuntimeError(f"TransactionEvent Started on {identity(index)}: {answer.id_token_info}")

    async def stop(self, index: int) -> None:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        charger, tx = self.chargers[index], self.tx.pop(index)
        self.confirmed.pop(index, None)
        if version(index) == "1.6":
            await charger.call(call16.StopTransaction(meter_stop=self.energy[index], timestamp=_ts(),
                                                      transaction_id=tx, reason="EVDisconnected"))
        else:
            self.seq[index] += 1
            await charger.call(call201.TransactionEvent(
                event_type="Ended", timestamp=_ts(), trigger_reason="EVCommunicationLost", seq_no=self.seq[index],
                transaction_info={"transaction_id": tx, "stopped_reason": "EVDisconnected"},
                evse={"id": 1, "connector_id": 1}))

    async def meter(self, index: int, amps: Decimal) -> None:
        """MeterValues with the energy register and ``amps`` Current.Import on each phase."""
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        charger, now = self.chargers[index], _ts()
        self.measured[index] = amps
        self.energy[index] += 100
        phases = ("L1", "L2", "L3")
        if version(index) == "1.6":
            await charger.call(call16.MeterValues(connector_id=1, transaction_id=self.tx[index], meter_value=[{
                "timestamp": now, "sampledValue": [
                    {"value": str(self.energy[index]), "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
                    *({"value": str(amps), "measurand": "Current.Import", "unit": "A", "phase": phase}
                      for phase in phases)]}]))
        else:
            await charger.call(call201.MeterValues(evse_id=1, meter_value=[{
                "timestamp": now, "sampledValue": [
                    {"value": self.energy[index], "measurand": "Energy.Active.Import.Register"},
                    *({"value": float(amps), "measurand": "Current.Import", "phase": phase,
                       "unitOfMeasure": {"unit": "A"}} for phase in phases)]}]))

    async def event(self, action, trigger: int, record: Latencies | None) -> None:
        """Run ``action`` (one call from charger ``trigger``; it updates the model first) and time the profiles
        it causes: (a) at ``trigger``, (b) the last of them at every charger the plan must tell, counted only
        when that is more than ``trigger`` (otherwise (b) is (a) again)."""
        counts = [len(charger.profiles) for charger in self.chargers]
        sent_at = time.monotonic()
        await action()
        expected = self.to_send()
        arrived: dict[int, float] = {}
        deadline = sent_at + WAIT
        while time.monotonic() < deadline:
            for index, limit in expected.items():
                if index not in arrived:
                    for at, profile in self.chargers[index].profiles[counts[index]:]:
                        if profile_limit(profile) == limit:
                            arrived[index] = at
                            break
            if len(arrived) == len(expected):
                break
            await asyncio.sleep(0.002)
        await asyncio.sleep(SETTLE)
        for index, charger in enumerate(self.chargers):
            new = charger.profiles[counts[index]:]
            if record is not None:
                if index not in expected:
                    record.stray += len(new)
                else:
                    record.wrong += sum(1 for _at, profile in new if profile_limit(profile) != expected[index])
            if new and index in self.tx:
                self.confirmed[index] = profile_limit(new[-1][1])  # the simulated chargers accept every profile
        if record is None:
            return
        record.missing += len(expected) - len(arrived)
        if trigger in arrived:
            record.trigger.append(arrived[trigger] - sent_at)
        others = set(expected) - {trigger}
        if not others:
            record.quiet += 1
        elif len(arrived) == len(expected):
            record.changed.append(max(arrived.values()) - sent_at)
            record.told.append(len(others))


def _ts() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def run(url: str, evses: int, rounds: int) -> dict[str, Latencies]:
    site = Site(evses)
    low = low_cars(evses)
    high = [index for index in range(evses) if index not in low]
    results = {"meter": Latencies(), "start": Latencies(), "stop": Latencies()}
    async with contextlib.AsyncExitStack() as stack:
        await site.connect(url, stack)
        # The gateway marks connections in the database in batches (OCPP_BATCH_FLUSH_SECONDS, 1 s by default), and
        # each connection triggers a recompute after that: let them pass.
        await asyncio.sleep(2.5)
        for index in range(evses):
            await site.event(lambda index=index: site.start(index), index, None)
        for index in range(evses):
            await site.event(lambda index=index: site.meter(index, LOW if index in low else HIGH), index, None)
        print(f"  all {evses} sessions running; limits {sorted(set(map(str, site.confirmed.values())))} A, fuse "
              f"{site.fuse} A per phase", flush=True)
        for number in range(rounds):
            # A car that drew little starts drawing all it may (the others are lowered), and back in the next round
            # (the others' raise is within the hysteresis: only that charger is told).
            car = low[(number // 2) % len(low)]
            amps = HIGH if number % 2 == 0 else LOW
            await site.event(lambda car=car, amps=amps: site.meter(car, amps), car, results["meter"])
            # A fully drawing car leaves (the others may take more) and a new session starts on that EVSE.
            car = high[number % len(high)]
            await site.event(lambda car=car: site.stop(car), car, results["stop"])
            await site.event(lambda car=car: site.start(car), car, results["start"])
    return results


# --- report -----------------------------------------------------------------------------------------------------
def _figures(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"{min(values) * 1000:7.1f} {statistics.median(values) * 1000:7.1f} "
            f"{percentile(values, 0.95) * 1000:7.1f} {max(values) * 1000:7.1f}")


def report(backend: str, results: dict[str, Latencies], evses: int, rounds: int) -> None:
    print(f"\n  {backend}: {evses} EVSEs, {rounds} rounds · ms: min median p95 max · target < {TARGET * 1000:.0f} ms")
    rows = [("meter value → that charger (a)", results["meter"].trigger, results["meter"]),
            ("meter value → all changed (b)", results["meter"].changed, results["meter"]),
            ("session start → that charger (a)", results["start"].trigger, results["start"]),
            ("session start → all changed (b)", results["start"].changed, results["start"]),
            ("session stop → all changed (b)", results["stop"].changed, results["stop"])]
    for label, values, record in rows:
        over = sum(1 for value in values if value >= TARGET)
        extra = ""
        if "(b)" in label:
            told = f"{min(record.told)}-{max(record.told)}" if record.told else "-"
            extra = f" other chargers told: {told}; {record.quiet} event(s) with none to tell"
        print(f"    {label:<34} n={len(values):<4} {_figures(values):<32} ≥ target: {over:<3}{extra}")
    for name, record in results.items():
        if record.missing or record.wrong or record.stray:
            print(f"    {name}: {record.missing} expected profile(s) missing after {WAIT:.0f} s, {record.wrong} with "
                  f"another limit, {record.stray} at chargers whose limit did not change")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["embedded", "postgres", "both"], default="both")
    parser.add_argument("--evses", type=int, default=24, help="EVSEs on as many chargers (at least 4)")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--setup", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.setup:
        setup_database(options.setup)
        return 0
    if options.evses < 4 or options.rounds < 1:
        parser.error("--evses must be at least 4 and --rounds at least 1")
    backends = ["embedded", "postgres"] if options.backend == "both" else [options.backend]
    if "postgres" in backends and not shutil.which("redis-server"):
        print("redis-server is not installed: the postgres backend needs it")
        return 2
    all_results = {}
    with tempfile.TemporaryDirectory(prefix="csms-lb-bench-") as workdir:
        for backend in backends:
            print(f"\n== {backend} ==", flush=True)
            server = Server(backend, Path(workdir), options.evses)
            began = time.monotonic()
            try:
                url = server.start()
                all_results[backend] = asyncio.run(run(url, options.evses, options.rounds))
            except Exception as exc:
                print(f"  [{backend}] FAILED: {type(exc).__name__}: {exc}", flush=True)
            finally:
                server.stop()
            print(f"  [{backend}] {time.monotonic() - began:.0f} s", flush=True)
    print(f"\nLoad-balancing latency · DYNAMIC site, {options.evses} × 3×16 A EVSEs (half OCPP 1.6, half 2.0.1), fuse "
          f"3×{fuse(options.evses)} A · {os.cpu_count()} CPUs")
    for backend, results in all_results.items():
        report({"embedded": "embedded (SQLite)", "postgres": "postgres+redis"}[backend], results, options.evses,
               options.rounds)
    return 0 if len(all_results) == len(backends) else 1


if __name__ == "__main__":
    sys.exit(main())
