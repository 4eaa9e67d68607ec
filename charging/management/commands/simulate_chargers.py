"""Simulated chargers: N `ocpp` library ChargePoint clients (1.6 or 2.0.1) charging against a running CSMS.

    manage.py simulate_chargers --url ws://127.0.0.1:8000 --count 10 --version 1.6 --organization brf-x --register

Each charger connects to ``<url>/ocpp/<prefix>-0001`` …, boots, reports Available, then runs ``--sessions``
charging sessions (Authorize, start, meter values every ``--meter-interval`` s with a rising energy register, stop)
with a Heartbeat between them. Every failed call is counted and printed; the exit status is non-zero when any
call failed. With ``--register`` missing charge points and one RFID tag per charger are created first through the
services (the same as register_charge_point / issue_tag would).
"""

import asyncio
import base64
import contextlib
import hashlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import IdToken
from accounts.services.tokens import id_token_issue
from charging.management.commands._organizations import organization_by_slug_or_id
from charging.models import ChargePoint
from charging.services.stations import charge_point_register

VENDOR, MODEL = "csms-sim", "Simulated AC 11 kW"
WH_PER_SECOND = 3  # ~11 kW
MAX_ERRORS_SHOWN = 20


def identity_of(prefix: str, number: int) -> str:
    return f"{prefix}-{number:04d}"


def tag_of(identity: str) -> str:
    """A deterministic RFID uid (14 hex digits) for a simulated charger, so runs without --register find it."""
    return hashlib.sha1(identity.encode()).hexdigest()[:14].upper()


def now_iso() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ChargerStopped(Exception):
    """A simulated charger gave up after an error that call()/check() already recorded."""


@dataclass
class Stats:
    connected: int = 0
    sessions_completed: int = 0
    calls: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def error(self, identity: str, what: str) -> None:
        self.errors.append(f"{identity}: {what}")


class Simulator:
    """The behaviour of one charger, independent of the OCPP version (subclasses build the calls)."""

    version = ""

    def __init__(self, *, identity: str, options: dict, stats: Stats):
        self.identity = identity
        self.options = options
        self.stats = stats
        self.tag = tag_of(identity)
        self.register_wh = 0
        self.cp = None

    async def call(self, payload, what: str | None = None):
        """One CALL; a CallError, a timeout or a closed socket is recorded and re-raised (the charger stops)."""
        action = what or type(payload).__name__
        started = time.perf_counter()
        self.stats.calls[action] += 1
        try:
            result = await self.cp.call(payload, suppress=False)
        except Exception as exc:
            self.stats.error(self.identity, f"{action} failed: {type(exc).__name__}: {exc}")
            raise ChargerStopped from exc
        self.stats.latencies.append(time.perf_counter() - started)
        return result

    def check(self, condition: bool, what: str) -> None:
        if not condition:
            self.stats.error(self.identity, what)
            raise ChargerStopped(what)

    async def run(self, url: str, auth_key: str | None) -> None:
        import websockets

        headers = None
        if auth_key:
            token = base64.b64encode(f"{self.identity}:{auth_key}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        try:
            socket = await websockets.connect(f"{url.rstrip('/')}/ocpp/{self.identity}",
                                              subprotocols=[f"ocpp{self.version}"], additional_headers=headers,
                                              open_timeout=30, ping_interval=None)
        except Exception as exc:
            self.stats.error(self.identity, f"connect failed: {type(exc).__name__}: {exc}")
            return
        self.stats.connected += 1
        self.cp = self.client_class(self.identity, socket, response_timeout=self.options["timeout"])
        reader = asyncio.ensure_future(self.cp.start())
        try:
            await self.boot()
            for number in range(self.options["sessions"]):
                if number:
                    await self.heartbeat()
                await self.session()
                self.stats.sessions_completed += 1
            await self.heartbeat()
        except ChargerStopped:
            return
        finally:
            reader.cancel()
            with contextlib.suppress(Exception):
                await socket.close()

    async def meter_loop(self, send_one) -> None:
        interval = self.options["meter_interval"]
        for _ in range(self.options["meter_count"]):
            await asyncio.sleep(interval)
            self.register_wh += int(WH_PER_SECOND * interval) or 1
            await send_one()


class Simulator16(Simulator):
    version = "1.6"

    @property
    def client_class(self):
        from ocpp.v16 import ChargePoint

        return ChargePoint

    def _meter_value(self, context: str | None = None) -> list[dict]:
        sample = {"value": str(self.register_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        if context:
            sample["context"] = context
        return [{"timestamp": now_iso(), "sampled_value": [sample]}]

    async def boot(self):
        from ocpp.v16 import call

        answer = await self.call(call.BootNotification(charge_point_vendor=VENDOR, charge_point_model=MODEL,
                                                       charge_point_serial_number=self.identity))
        self.check(answer.status == "Accepted", f"BootNotification answered {answer.status}")
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                                timestamp=now_iso()))

    async def heartbeat(self):
        from ocpp.v16 import call

        await self.call(call.Heartbeat())

    async def session(self):
        from ocpp.v16 import call

        answer = await self.call(call.Authorize(id_tag=self.tag))
        self.check(answer.id_tag_info["status"] == "Accepted",
                   f"Authorize of {self.tag} answered {answer.id_tag_info['status']}")
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing",
                                                timestamp=now_iso()))
        started = await self.call(call.StartTransaction(connector_id=1, id_tag=self.tag,
                                                        meter_start=self.register_wh, timestamp=now_iso()))
        self.check(started.id_tag_info["status"] == "Accepted",
                   f"StartTransaction answered {started.id_tag_info['status']}")
        transaction_id = started.transaction_id
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                                timestamp=now_iso()))

        async def one():
            await self.call(call.MeterValues(connector_id=1, transaction_id=transaction_id,
                                             meter_value=self._meter_value("Sample.Periodic")))

        await self.meter_loop(one)
        self.register_wh += 1
        await self.call(call.StopTransaction(meter_stop=self.register_wh, timestamp=now_iso(),
                                             transaction_id=transaction_id, reason="EVDisconnected",
                                             id_tag=self.tag))
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                                timestamp=now_iso()))


class Simulator201(Simulator):
    version = "2.0.1"

    @property
    def client_class(self):
        from ocpp.v201 import ChargePoint

        return ChargePoint

    def _meter_value(self, context: str) -> list[dict]:
        return [{"timestamp": now_iso(), "sampled_value": [
            {"value": self.register_wh, "measurand": "Energy.Active.Import.Register", "context": context,
             "unit_of_measure": {"unit": "Wh"}}]}]

    async def boot(self):
        from ocpp.v201 import call

        answer = await self.call(call.BootNotification(
            charging_station={"vendor_name": VENDOR, "model": MODEL, "serial_number": self.identity},
            reason="PowerUp"))
        self.check(answer.status == "Accepted", f"BootNotification answered {answer.status}")
        await self.call(call.StatusNotification(timestamp=now_iso(), connector_status="Available", evse_id=1,
                                                connector_id=1))

    async def heartbeat(self):
        from ocpp.v201 import call

        await self.call(call.Heartbeat())

    async def session(self):
        from ocpp.v201 import call

        id_token = {"id_token": self.tag, "type": "ISO14443"}
        answer = await self.call(call.Authorize(id_token=id_token))
        self.check(answer.id_token_info["status"] == "Accepted",
                   f"Authorize of {self.tag} answered {answer.id_token_info['status']}")
        transaction_id = str(uuid.uuid4())
        seq_no = 0
        await self.call(call.StatusNotification(timestamp=now_iso(), connector_status="Occupied", evse_id=1,
                                                connector_id=1))
        started = await self.call(call.TransactionEvent(
            event_type="Started", timestamp=now_iso(), trigger_reason="Authorized", seq_no=seq_no,
            transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1}, id_token=id_token,
            meter_value=self._meter_value("Transaction.Begin")), "TransactionEvent(Started)")
        status = (started.id_token_info or {}).get("status", "Accepted")
        self.check(status == "Accepted", f"TransactionEvent(Started) answered {status}")

        async def one():
            nonlocal seq_no
            seq_no += 1
            await self.call(call.TransactionEvent(
                event_type="Updated", timestamp=now_iso(), trigger_reason="MeterValuePeriodic", seq_no=seq_no,
                transaction_info={"transaction_id": transaction_id},
                meter_value=self._meter_value("Sample.Periodic")), "TransactionEvent(Updated)")

        await self.meter_loop(one)
        self.register_wh += 1
        seq_no += 1
        await self.call(call.TransactionEvent(
            event_type="Ended", timestamp=now_iso(), trigger_reason="EVCommunicationLost", seq_no=seq_no,
            transaction_info={"transaction_id": transaction_id, "stopped_reason": "EVDisconnected"},
            id_token=id_token, meter_value=self._meter_value("Transaction.End")), "TransactionEvent(Ended)")
        await self.call(call.StatusNotification(timestamp=now_iso(), connector_status="Available", evse_id=1,
                                                connector_id=1))


SIMULATORS = {"1.6": Simulator16, "2.0.1": Simulator201}


class Command(BaseCommand):
    help = "Run N simulated OCPP chargers (1.6 or 2.0.1) against a CSMS and print what happened."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version (the OCPP version) replaces Django's --version (the Django version).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--url", default="ws://127.0.0.1:8000", help="Base websocket URL, without /ocpp")
        parser.add_argument("--count", type=int, default=1)
        parser.add_argument("--version", default="1.6", choices=sorted(SIMULATORS))
        parser.add_argument("--prefix", default="SIM", help="Identities are <prefix>-0001, <prefix>-0002, …")
        parser.add_argument("--organization", help="Slug or id; required with --register")
        parser.add_argument("--register", action="store_true",
                            help="Register missing charge points and issue missing RFID tags first")
        parser.add_argument("--auth-key", help="AuthorizationKey for HTTP Basic (and for registering)")
        parser.add_argument("--sessions", type=int, default=1, help="Charging sessions per charger")
        parser.add_argument("--meter-interval", type=float, default=10.0, help="Seconds between meter values")
        parser.add_argument("--meter-count", type=int, default=3, help="Meter values per session")
        parser.add_argument("--duration", type=float, default=300.0, help="Stop after this many seconds at most")
        parser.add_argument("--ramp", type=float, default=0.0,
                            help="Spread the connects over this many seconds (default: all at once)")
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait for each answer")

    def handle(self, *args, **options):
        if options["count"] < 1 or options["sessions"] < 0 or options["meter_interval"] < 0:
            raise CommandError("--count must be ≥ 1, --sessions and --meter-interval ≥ 0.")
        identities = [identity_of(options["prefix"], n) for n in range(1, options["count"] + 1)]
        if options["register"]:
            if not options["organization"]:
                raise CommandError("--register needs --organization.")
            self.register(identities, organization_by_slug_or_id(options["organization"]), options["auth_key"])
        elif options["organization"]:
            organization_by_slug_or_id(options["organization"])  # fail early on a typo
        stats = Stats()
        started = time.monotonic()
        finished = asyncio.run(self.simulate(identities, options, stats))
        self.report(stats, options, time.monotonic() - started, finished)
        if stats.errors or not finished:
            raise CommandError(f"{len(stats.errors)} error(s)" + ("" if finished else "; stopped by --duration"))

    def register(self, identities: list[str], organization, auth_key: str | None) -> None:
        known = set(ChargePoint.objects.filter(identity__in=identities).values_list("identity", flat=True))
        tags = {identity: tag_of(identity) for identity in identities}
        issued = set(IdToken.objects.filter(uid__in=tags.values()).values_list("uid", flat=True))
        registered = tokens = 0
        for identity in identities:
            try:
                if identity not in known:
                    charge_point_register(identity=identity, organization=organization, evses=1, auth_key=auth_key,
                                          display_name=f"Simulated {identity}", acting_user=None,
                                          reason="simulate_chargers --register")
                    registered += 1
                if tags[identity] not in issued:
                    id_token_issue(organization=organization, uid=tags[identity], acting_user=None,
                                   visual_number=identity, reason="simulate_chargers --register")
                    tokens += 1
            except ValidationError as exc:
                raise CommandError(f"{identity}: " + "; ".join(exc.messages)) from exc
        self.stdout.write(f"Registered {registered} charge point(s) and issued {tokens} RFID tag(s) "
                          f"({len(known)} / {len(issued)} existed).")

    async def simulate(self, identities: list[str], options: dict, stats: Stats) -> bool:
        simulator_class = SIMULATORS[options["version"]]
        ramp = options["ramp"] / max(len(identities), 1)

        async def one(index: int, identity: str):
            if ramp:
                await asyncio.sleep(index * ramp)
            await simulator_class(identity=identity, options=options, stats=stats).run(options["url"],
                                                                                     options["auth_key"])

        tasks = [asyncio.ensure_future(one(i, identity)) for i, identity in enumerate(identities)]
        done, pending = await asyncio.wait(tasks, timeout=options["duration"])
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                stats.error("simulator", f"{type(task.exception()).__name__}: {task.exception()}")
        return not pending

    def report(self, stats: Stats, options: dict, elapsed: float, finished: bool) -> None:
        latencies = sorted(stats.latencies)

        def percentile(p: float) -> str:
            if not latencies:
                return "-"
            return f"{latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000:.1f} ms"

        total_calls = sum(stats.calls.values())
        wanted = options["count"] * options["sessions"]
        self.stdout.write(f"OCPP {options['version']} · {options['count']} charger(s) · {elapsed:.1f} s"
                          + ("" if finished else " (stopped by --duration)"))
        self.stdout.write(f"  connected          {stats.connected}/{options['count']}")
        self.stdout.write(f"  sessions completed {stats.sessions_completed}/{wanted}")
        self.stdout.write(f"  calls              {total_calls} ("
                          + ", ".join(f"{action} {n}" for action, n in sorted(stats.calls.items())) + ")")
        self.stdout.write(f"  latency            p50 {percentile(0.5)}, p99 {percentile(0.99)}")
        self.stdout.write(f"  errors             {len(stats.errors)}")
        for line in stats.errors[:MAX_ERRORS_SHOWN]:
            self.stderr.write(f"    {line}")
        if len(stats.errors) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"    … and {len(stats.errors) - MAX_ERRORS_SHOWN} more")
