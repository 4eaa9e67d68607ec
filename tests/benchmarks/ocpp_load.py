"""OCPP gateway load benchmark: csms (embedded and PostgreSQL+Redis) next to a bare `websockets`+`ocpp` floor.

    .venv/bin/python -m tests.benchmarks.ocpp_load [--backend embedded|postgres|both] [--quick]

Run on demand (see README.md next to this file); pytest never collects it. Every phase is bounded in time, all
servers it starts are stopped and the benchmark database is dropped at the end.
"""

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PREFIX = "BENCH"
BENCH_DB = "csms_bench"
PG_ADMIN_URL = "postgres://csms:csms@127.0.0.1:5432/postgres"
CONNECT_CONCURRENCY = 50  # connects in flight per worker (a connect storm without SYN-queue overflow)
CALL_TIMEOUT = 30.0


def identity(number: int) -> str:
    return f"{PREFIX}-{number:05d}"


def tag(number: int) -> str:
    return f"BE{number:06X}"  # hexadecimal: a valid RFID uid


# --- /proc helpers ----------------------------------------------------------------------------------------------
def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_ticks(pid: int, children: bool = False) -> int:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    fields = text[text.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime + cstime (reaped children)
    return ticks


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def postgres_pids(database: str) -> list[int]:
    """The cluster's background processes plus the client backends of ``database`` (other sessions may use the
    same cluster: their backends are left out)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or _comm(int(entry.name)) != "postgres":
            continue
        cmdline = _cmdline(int(entry.name))
        is_client = "(" in cmdline or "[local]" in cmdline
        if not is_client or f" {database} " in cmdline:
            pids.append(int(entry.name))
    return pids


@dataclass
class ServerProcesses:
    """The pids whose CPU and memory count as 'the server'."""

    main_pid: int
    redis_pid: int | None = None
    database: str | None = None
    #: More server processes (the cluster's other daphne, nginx and its worker).
    more_pids: tuple[int, ...] = ()
    #: csms processes' /metrics addresses (garbage-collection pauses are read from them).
    metrics_urls: tuple[str, ...] = ()
    group_of: dict[int, str] = field(default_factory=dict)

    def groups(self) -> dict[str, list[int]]:
        groups = {"server": [self.main_pid, *self.more_pids]}
        if self.database:
            groups["postgres"] = postgres_pids(self.database)
        if self.redis_pid:
            groups["redis"] = [self.redis_pid]
        return groups

    def cpu_snapshot(self) -> dict[int, int]:
        snapshot = {}
        for name, pids in self.groups().items():
            for pid in pids:
                snapshot[pid] = cpu_ticks(pid)
                self.group_of[pid] = name
        return snapshot

    def cpu_by_group(self, before: dict[int, int], after: dict[int, int]) -> dict[str, float]:
        """CPU per group between two snapshots, by the processes of the second one (database backends come and go
        as connections are recycled)."""
        return {name: cpu_seconds(before, {pid: ticks for pid, ticks in after.items()
                                           if self.group_of.get(pid) == name})
                for name in self.groups()}

    def gc_pauses(self) -> tuple[int, float, int] | None:
        """(collections, seconds stalled, collections over 100 ms) so far, summed over the csms processes."""
        if not self.metrics_urls:
            return None
        import urllib.request

        count = total = slow = 0
        for url in self.metrics_urls:
            text = urllib.request.urlopen(url, timeout=30).read().decode()
            for line in text.splitlines():
                name, _, value = line.rpartition(" ")
                if name.startswith("csms_gc_pause_seconds_count"):
                    count += int(float(value))
                    slow += int(float(value))
                elif name.startswith("csms_gc_pause_seconds_sum"):
                    total += float(value)
                elif name.startswith("csms_gc_pause_seconds_bucket") and 'le="0.1"' in name:
                    slow -= int(float(value))
        return count, total, slow

    def rss(self) -> dict[str, int]:
        return {name: sum(rss_kb(pid) for pid in pids) for name, pids in self.groups().items()}


def cpu_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU used between two snapshots; a process that appeared in between counts from zero."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items() if ticks >= before.get(pid, 0)) / CLK_TCK


# --- the floor: a bare websockets + ocpp server -----------------------------------------------------------------
def serve_floor(port: int) -> None:
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.datatypes import IdTagInfo
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    counter = iter(range(1, 1 << 62))

    def now() -> str:
        return datetime.now(UTC).isoformat()

    class FloorChargePoint(ChargePoint):
        @on("BootNotification")
        def on_boot(self, charge_point_vendor, charge_point_model, **kwargs):
            return call_result.BootNotification(current_time=now(), interval=60, status="Accepted")

        @on("Heartbeat")
        def on_heartbeat(self, **kwargs):
            return call_result.Heartbeat(current_time=now())

        @on("MeterValues")
        def on_meter_values(self, connector_id, meter_value, **kwargs):
            return call_result.MeterValues()

        @on("StartTransaction")  # only so the saturation phase can run the same script against the floor
        def on_start(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
            return call_result.StartTransaction(transaction_id=next(counter),
                                                id_tag_info=IdTagInfo(status="Accepted"))

    async def handler(connection):
        charge_point = FloorChargePoint(connection.request.path.rsplit("/", 1)[-1], connection)
        with contextlib.suppress(ConnectionClosed):
            await charge_point.start()

    async def main():
        async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6"]):
            await asyncio.Future()

    asyncio.run(main())


# --- the load generator (worker processes) ----------------------------------------------------------------------
@dataclass
class WorkerResult:
    connected: int = 0
    connect_failures: int = 0
    call_failures: int = 0
    dropped: int = 0
    calls: int = 0
    latencies: list[float] = field(default_factory=list)
    boot_latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        if len(self.errors) < 10:
            self.errors.append(text)


class CallFailed(Exception):
    pass


class RawCharger:
    """One charger on a raw websocket: pre-built frames, one call in flight, answers matched by message id."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0

    async def call(self, action: str, payload_json: str) -> dict:
        self.next_id += 1
        message_id = str(self.next_id)
        await self.socket.send(f'[2,"{message_id}","{action}",{payload_json}]')
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), max(0.01, deadline - time.monotonic()))
            message = json.loads(raw)
            if message[0] == 2:  # the server calls us: we implement nothing
                await self.socket.send(json.dumps([4, message[1], "NotImplemented", "", {}]))
                continue
            if message[1] != message_id:
                continue
            if message[0] == 4:
                raise CallFailed(f"{action}: {message[2]} {message[3]}")
            return message[2]


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


BOOT = '{"chargePointVendor":"bench","chargePointModel":"load"}'


def meter_values_json(transaction_id: int | None, wh: int) -> str:
    tx = f'"transactionId":{transaction_id},' if transaction_id is not None else ""
    return (f'{{"connectorId":1,{tx}"meterValue":[{{"timestamp":"{_timestamp()}","sampledValue":[{{"value":"{wh}",'
            f'"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"}}]}}]}}')


async def _connect(url: str, name: str, result: WorkerResult, semaphore: asyncio.Semaphore):
    import websockets

    async with semaphore:
        try:
            socket = await websockets.connect(f"{url}/ocpp/{name}", subprotocols=["ocpp1.6"], open_timeout=60,
                                              ping_interval=None, compression=None, close_timeout=2)
        except Exception as exc:
            result.connect_failures += 1
            result.error(f"{name}: connect: {type(exc).__name__}: {exc}"[:300])
            return None
        charger = RawCharger(socket)
        started = time.perf_counter()
        try:
            await charger.call("BootNotification", BOOT)
        except Exception as exc:
            result.connect_failures += 1
            result.error(f"{name}: BootNotification: {type(exc).__name__}: {exc}"[:300])
            await socket.close()
            return None
        result.boot_latencies.append(time.perf_counter() - started)
        result.connected += 1
        return charger


async def _wait_for_start(start_at) -> float:
    while start_at.value == 0.0:
        await asyncio.sleep(0.05)
    delay = start_at.value - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    return start_at.value


async def _run_worker(phase: str, url: str, numbers: list[int], total: int, options: dict, ready, start_at
                      ) -> WorkerResult:
    result = WorkerResult()
    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)
    chargers = await asyncio.gather(*(_connect(url, identity(n), result, semaphore) for n in numbers))
    transactions = {}
    if phase == "saturation":
        for n, charger in zip(numbers, chargers, strict=True):
            if charger is None:
                continue
            payload = (f'{{"connectorId":1,"idTag":"{tag(n)}","meterStart":0,"timestamp":"{_timestamp()}"}}')
            try:
                answer = await charger.call("StartTransaction", payload)
                transactions[n] = answer["transactionId"]
            except Exception as exc:
                result.call_failures += 1
                result.error(f"{identity(n)}: StartTransaction: {type(exc).__name__}: {exc}"[:300])
    ready.put((result.connected, result.connect_failures))
    # The load generator must not stall its own chargers: a full collection over 5 000 client connections takes
    # 0.1-0.5 s and would be counted as the server's latency. Nothing is collected during the timed window.
    gc.collect()
    gc.freeze()
    gc.disable()
    begin = await _wait_for_start(start_at)
    end = begin + options["duration"]
    cpu_start = time.process_time()

    async def hold(n: int, charger: RawCharger):
        # Jittered: charger n's first MeterValues at n/total of the 30 s period, its Heartbeat at n/total of 60 s.
        # meter_every 0: heartbeats only (an idle fleet).
        next_meter = begin + options["meter_every"] * (n / total) if options["meter_every"] > 0 else float("inf")
        next_heartbeat = begin + options["heartbeat_every"] * ((n * 7919 % total) / total)
        wh = 0
        while True:
            due = min(next_meter, next_heartbeat)
            if due >= end:
                return
            await asyncio.sleep(max(0.0, due - time.time()))
            if next_meter <= next_heartbeat:
                wh += 250
                action, payload = "MeterValues", meter_values_json(None, wh)
                next_meter += options["meter_every"]
            else:
                action, payload = "Heartbeat", "{}"
                next_heartbeat += options["heartbeat_every"]
            if not await timed_call(n, charger, action, payload):
                return

    async def saturate(n: int, charger: RawCharger):
        wh = 0
        while time.time() < end:
            wh += 10
            if not await timed_call(n, charger, "MeterValues", meter_values_json(transactions[n], wh),
                                    count_until=end):
                return

    async def timed_call(n, charger, action, payload, count_until=None) -> bool:
        started = time.perf_counter()
        try:
            await charger.call(action, payload)
        except (CallFailed, TimeoutError) as exc:
            result.call_failures += 1
            result.error(f"{identity(n)}: {type(exc).__name__}: {exc}"[:300])
            return not isinstance(exc, TimeoutError)
        except Exception as exc:  # the connection went away
            result.call_failures += 1
            result.dropped += 1
            result.error(f"{identity(n)}: {action}: {type(exc).__name__}: {exc}"[:300])
            return False
        if count_until is None or time.time() <= count_until:
            result.calls += 1
            result.latencies.append(time.perf_counter() - started)
        return True

    if phase == "hold":
        tasks = [hold(n, c) for n, c in zip(numbers, chargers, strict=True) if c is not None]
    else:
        tasks = [saturate(n, c) for n, c in zip(numbers, chargers, strict=True) if c is not None and n in transactions]
    await asyncio.wait_for(asyncio.gather(*tasks), options["duration"] + CALL_TIMEOUT + 10)
    result.cpu_seconds = time.process_time() - cpu_start
    gc.enable()
    await asyncio.gather(*(c.socket.close() for c in chargers if c is not None), return_exceptions=True)
    return result


def _worker_entry(phase, url, numbers, total, options, ready, start_at, results):
    raise_fd_limit()
    try:
        result = asyncio.run(_run_worker(phase, url, numbers, total, options, ready, start_at))
    except Exception as exc:
        result = WorkerResult(errors=[f"worker crashed: {type(exc).__name__}: {exc}"])
        ready.put((0, len(numbers)))
    results.put(result)


def run_phase(phase: str, url: str, numbers: list[int], options: dict, servers: ServerProcesses,
              workers: int, connect_timeout: float) -> dict:
    """Connect (and boot) everyone, measure, run the timed window, measure again."""
    context = multiprocessing.get_context("fork")
    ready, results = context.Queue(), context.Queue()
    start_at = context.Value("d", 0.0)
    slices = [numbers[i::workers] for i in range(workers)]
    rss_before = servers.rss()
    processes = [context.Process(target=_worker_entry, daemon=True,
                                 args=(phase, url, chunk, len(numbers), options, ready, start_at, results))
                 for chunk in slices if chunk]
    connect_started = time.monotonic()
    try:
        for process in processes:
            process.start()
        for _ in processes:
            ready.get(timeout=connect_timeout)
        connect_seconds = time.monotonic() - connect_started
        time.sleep(1.0)  # let in-flight boots and frame-log flushes settle before measuring memory
        rss_connected = servers.rss()
        gc_before = servers.gc_pauses()
        cpu_before = servers.cpu_snapshot()
        start_at.value = time.time() + 0.5
        time.sleep(0.5 + options["duration"])
        cpu_after = servers.cpu_snapshot()
        gc_after = servers.gc_pauses()
        collected = [results.get(timeout=CALL_TIMEOUT + 60) for _ in processes]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    rss_after = servers.rss()
    merged = WorkerResult()
    for item in collected:
        merged.connected += item.connected
        merged.connect_failures += item.connect_failures
        merged.call_failures += item.call_failures
        merged.dropped += item.dropped
        merged.calls += item.calls
        merged.latencies += item.latencies
        merged.boot_latencies += item.boot_latencies
        merged.cpu_seconds += item.cpu_seconds
        merged.errors += item.errors
    return {"result": merged, "rss_before": rss_before, "rss_connected": rss_connected, "rss_after": rss_after,
            "server_cpu": cpu_seconds(cpu_before, cpu_after), "connect_seconds": connect_seconds,
            "cpu_by_group": servers.cpu_by_group(cpu_before, cpu_after),
            "gc": None if gc_before is None else tuple(b - a for a, b in zip(gc_before, gc_after, strict=True)),
            "duration": options["duration"]}


# --- servers under test -----------------------------------------------------------------------------------------
def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def setup_database(chargers: int, tags: int) -> None:
    """(Runs in a subprocess with the server's env.) Migrate, then register chargers and tags via the services."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from accounts.services.organizations import organization_create
    from accounts.services.tokens import id_token_issue
    from charging.services.stations import charge_point_register

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        organization = organization_create(kind="association", name="Benchmark", slug="bench", acting_user=None,
                                           reason="benchmark")
        for number in range(1, chargers + 1):
            charge_point_register(identity=identity(number), organization=organization, evses=1, auth_key=None,
                                  acting_user=None, reason="benchmark")
        for number in range(1, tags + 1):
            id_token_issue(organization=organization, uid=tag(number), acting_user=None, reason="benchmark")


class Target:
    name = ""

    def start(self) -> tuple[str, ServerProcesses]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class FloorTarget(Target):
    name = "floor"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.process = None

    def start(self):
        port = free_port()
        self.log = (self.workdir / "floor.log").open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.ocpp_load", "--serve-floor",
                                         str(port)], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(port, self.process)
        return f"ws://127.0.0.1:{port}", ServerProcesses(self.process.pid)

    def stop(self):
        stop(self.process)
        self.log.close()


class CsmsTarget(Target):
    def __init__(self, name: str, workdir: Path, chargers: int, tags: int):
        self.name = name
        self.workdir = workdir / name
        self.workdir.mkdir()
        self.chargers, self.tags = chargers, tags
        self.process = self.redis = None
        self.database_created = False

    @property
    def uses_postgres(self) -> bool:
        return self.name in ("postgres", "cluster")

    def environment(self) -> dict:
        env = {key: value for key, value in os.environ.items()
               if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
        env.update({"DATA_DIR": str(self.workdir / "data"), "LOG_LEVEL": "WARNING", "OCPP_FRAME_LOG": "true",
                    "PYTHONUNBUFFERED": "1"})
        if self.uses_postgres:
            env["DATABASE_URL"] = f"postgres://csms:csms@127.0.0.1:5432/{BENCH_DB}"
            env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        return env

    def prepare(self) -> dict:
        """A private redis-server and a fresh database when on PostgreSQL, then the charge points registered.
        Returns the server's environment."""
        if self.uses_postgres:
            self.redis_port = free_port()  # a private redis-server: its CPU and memory are ours alone
            self.redis = subprocess.Popen([shutil.which("redis-server"), "--bind", "127.0.0.1", "--port",
                                           str(self.redis_port), "--save", "", "--appendonly", "no"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_port(self.redis_port, self.redis)
            create_database()
            self.database_created = True
        env = self.environment()
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "tests.benchmarks.ocpp_load", "--setup", str(self.chargers),
                        str(self.tags)], cwd=ROOT, env=env, check=True, timeout=900)
        print(f"  [{self.name}] migrated and registered {self.chargers} charge points in "
              f"{time.monotonic() - began:.0f} s", flush=True)
        return env

    def start(self):
        env = self.prepare()
        port = free_port()
        self.log = (self.workdir / "server.log").open("w")
        from deploy.cluster import web_command  # as the Procfile and the cluster run it

        self.process = subprocess.Popen(web_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_for_port(port, self.process)
        return f"ws://127.0.0.1:{port}", ServerProcesses(self.process.pid, self.redis.pid if self.redis else None,
                                                         BENCH_DB if self.uses_postgres else None,
                                                         metrics_urls=(f"http://127.0.0.1:{port}/metrics",))

    def stop(self):
        stop(self.process)
        if getattr(self, "log", None):
            self.log.close()
            tail = (self.workdir / "server.log").read_text(errors="replace").splitlines()
            pauses = [int(match) for match in re.findall(r"stalled this process for (\d+) ms", "\n".join(tail))]
            if pauses:
                print(f"  [{self.name}] server garbage collections logged as slow: {len(pauses)}, "
                      f"longest {max(pauses)} ms")
            problems = [line for line in tail if ("ERROR" in line or "Traceback" in line or "WARNING" in line)
                        and "csms.gc" not in line]
            if problems:
                print(f"  [{self.name}] server log: {len(problems)} warning/error line(s), e.g.:")
                for line in problems[:5]:
                    print(f"    {line[:200]}")
                if "Traceback (most recent call last):" in tail:
                    first = tail.index("Traceback (most recent call last):")
                    print("  first traceback (last lines):")
                    end = next((i for i in range(first + 1, len(tail)) if not tail[i].startswith((" ", "Traceback"))),
                               len(tail) - 1)
                    for line in tail[max(first, end - 12):end + 1]:
                        print(f"    {line[:200]}")
        stop(self.redis)
        if self.database_created:
            drop_database()


class ClusterTarget(CsmsTarget):
    """The postgres+redis server as deploy/cluster.py runs it: nginx in front of two daphne processes (no
    workers or beat: nothing in this load queues tasks)."""

    def __init__(self, workdir: Path, chargers: int, tags: int):
        super().__init__("cluster", workdir, chargers, tags)
        self.cluster = None

    def start(self):
        from deploy.cluster import Cluster

        env = self.prepare()
        self.cluster = Cluster(self.workdir / "run", web=2, workers=0, beat=False, environment=env,
                               nginx=shutil.which("nginx") or "/usr/sbin/nginx").start()
        first, *others = [member.process.pid for member in self.cluster.web]
        nginx = self.cluster.proxy.process.pid
        time.sleep(0.5)
        nginx_workers = [int(pid) for pid in Path(f"/proc/{nginx}/task/{nginx}/children").read_text().split()]
        return self.cluster.ws_url, ServerProcesses(
            first, self.redis.pid, BENCH_DB, (*others, nginx, *nginx_workers),
            metrics_urls=tuple(f"http://127.0.0.1:{member.port}/metrics" for member in self.cluster.web))

    def stop(self):
        if self.cluster is not None:
            self.cluster.stop()
        stop(self.redis)
        if self.database_created:
            drop_database()


def _admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as connection:
        connection.execute(statement)


def create_database() -> None:
    _admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    _admin_sql(f"CREATE DATABASE {BENCH_DB}")


def drop_database() -> None:
    try:
        _admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    except Exception as exc:
        print(f"  could not drop {BENCH_DB}: {exc}")


# --- orchestration and report -----------------------------------------------------------------------------------
def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def measure(target: Target, options) -> dict:
    print(f"\n== {target.name} ==", flush=True)
    figures = {}
    try:
        url, servers = target.start()
        time.sleep(1.0)
        hold = run_phase("hold", url, list(range(1, options.chargers + 1)),
                         {"duration": options.hold, "meter_every": options.meter_every, "heartbeat_every": 60.0},
                         servers, options.workers, options.connect_timeout)
        r = hold["result"]
        per_connection = {name: (hold["rss_connected"][name] - hold["rss_before"][name]) / max(r.connected, 1)
                          for name in hold["rss_before"]}
        figures.update({
            "hold: chargers connected": f"{r.connected}/{options.chargers}",
            "hold: connect time (s)": f"{hold['connect_seconds']:.1f}",
            "hold: connection failures": r.connect_failures,
            "hold: dropped during hold": r.dropped,
            "hold: call failures": r.call_failures,
            "hold: calls answered": r.calls,
            "hold: boot p99 (ms)": _ms(percentile(r.boot_latencies, 0.99)),
            "hold: call p50 (ms)": _ms(percentile(r.latencies, 0.50)),
            "hold: call p99 (ms)": _ms(percentile(r.latencies, 0.99)),
            "hold: server RSS idle (MB)": f"{hold['rss_before']['server'] / 1024:.0f}",
            "hold: server RSS connected (MB)": f"{hold['rss_connected']['server'] / 1024:.0f}",
            "hold: server RSS after hold (MB)": f"{hold['rss_after']['server'] / 1024:.0f}",
            "hold: server KB per connection": f"{per_connection['server']:.1f}",
            "hold: server CPU during hold (% core)": f"{100 * hold['server_cpu'] / hold['duration']:.1f}",
            "hold: client CPU (% core)": f"{100 * r.cpu_seconds / hold['duration']:.1f}",
        })
        if len(hold["cpu_by_group"]) > 1:
            figures["hold: CPU by process (% core)"] = " · ".join(
                f"{name} {100 * seconds / hold['duration']:.1f}" for name, seconds in hold["cpu_by_group"].items())
        if hold["gc"] is not None:
            collections, stalled, slow = hold["gc"]
            figures["hold: server GC pauses (count · total ms · over 100 ms)"] = (
                f"{collections} · {1000 * stalled:.0f} · {slow}")
        for extra in ("postgres", "redis"):
            if extra in hold["rss_before"]:
                figures[f"hold: {extra} RSS idle→connected (MB)"] = (
                    f"{hold['rss_before'][extra] / 1024:.0f}→{hold['rss_connected'][extra] / 1024:.0f}")
                figures[f"hold: {extra} KB per connection"] = f"{per_connection[extra]:.1f}"
        _print_errors("hold", r)
        time.sleep(2.0)
        saturation = run_phase("saturation", url, list(range(1, options.saturation_chargers + 1)),
                               {"duration": options.saturation}, servers, options.workers, options.connect_timeout)
        s = saturation["result"]
        rate = s.calls / saturation["duration"]
        figures.update({
            "saturation: chargers in transaction": f"{s.connected}/{options.saturation_chargers}",
            "saturation: call failures": s.call_failures + s.connect_failures,
            "saturation: calls/s": f"{rate:.0f}",
            "saturation: call p50 (ms)": _ms(percentile(s.latencies, 0.50)),
            "saturation: call p99 (ms)": _ms(percentile(s.latencies, 0.99)),
            "saturation: server CPU µs/call (all procs)": f"{1e6 * saturation['server_cpu'] / max(s.calls, 1):.0f}",
            "saturation: server CPU (% core)": f"{100 * saturation['server_cpu'] / saturation['duration']:.0f}",
            "saturation: client CPU (% core)": f"{100 * s.cpu_seconds / saturation['duration']:.0f}",
        })
        figures["_rate"] = rate
        _print_errors("saturation", s)
    except Exception as exc:
        print(f"  [{target.name}] FAILED: {type(exc).__name__}: {exc}", flush=True)
        figures["error"] = f"{type(exc).__name__}"
    finally:
        target.stop()
    for key, value in figures.items():
        if not key.startswith("_"):
            print(f"  {key}: {value}", flush=True)
    return figures


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _print_errors(phase: str, result: WorkerResult) -> None:
    for line in result.errors[:5]:
        print(f"  [{phase}] {line}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["embedded", "postgres", "cluster", "both", "all"], default="both",
                        help="both: embedded and postgres; all: those and the cluster (nginx + 2 daphne)")
    parser.add_argument("--chargers", type=int, default=5000, help="Hold test: concurrent chargers")
    parser.add_argument("--hold", type=float, default=120.0, help="Hold test: seconds")
    parser.add_argument("--meter-every", type=float, default=30.0,
                        help="Hold test: seconds between a charger's MeterValues (0: heartbeats only, an idle fleet)")
    parser.add_argument("--saturation-chargers", type=int, default=500)
    parser.add_argument("--saturation", type=float, default=30.0, help="Saturation: seconds")
    parser.add_argument("--workers", type=int, default=2, help="Load generator processes")
    parser.add_argument("--connect-timeout", type=float, default=300.0,
                        help="Give up when not everyone has connected (and booted) by then")
    parser.add_argument("--no-floor", action="store_true", help="Skip the bare websockets+ocpp server")
    parser.add_argument("--quick", action="store_true", help="1000 chargers, 30 s hold, 10 s saturation")
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--setup", type=int, nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve_floor:
        serve_floor(options.serve_floor)
        return 0
    if options.setup:
        setup_database(*options.setup)
        return 0
    if options.quick:
        options.chargers, options.hold, options.saturation = 1000, 30.0, 10.0
        options.saturation_chargers = min(options.saturation_chargers, 200)

    soft, hard = raise_fd_limit()
    # Each charger costs one fd in a load generator and one in the server (plus a few spare).
    needed = options.chargers + 200
    print(f"fd limit {soft} (hard {hard}); about {needed} needed per process", flush=True)
    if soft < needed:
        print(f"  the fd limit is too low for {options.chargers} chargers: raise the hard limit (ulimit -Hn)")
        return 2
    backends = {"both": ["embedded", "postgres"], "all": ["embedded", "postgres", "cluster"]}.get(
        options.backend, [options.backend])
    if ({"postgres", "cluster"} & set(backends)) and not shutil.which("redis-server"):
        print("  redis-server is not installed: the postgres backend needs it")
        return 2
    started = time.monotonic()
    random.seed(1)
    results = {}
    with tempfile.TemporaryDirectory(prefix="csms-bench-") as workdir:
        targets = [] if options.no_floor else [FloorTarget(Path(workdir))]
        chargers = max(options.chargers, options.saturation_chargers)
        targets += [ClusterTarget(Path(workdir), chargers, options.saturation_chargers) if name == "cluster" else
                    CsmsTarget(name, Path(workdir), chargers, options.saturation_chargers) for name in backends]
        for target in targets:
            results[target.name] = measure(target, options)
    columns = [name for name in ("floor", "embedded", "postgres", "cluster") if name in results]
    floor_rate = results.get("floor", {}).get("_rate")
    for name in ("embedded", "postgres", "cluster"):
        rate = results.get(name, {}).get("_rate")
        if name in results and rate is not None and floor_rate:
            results[name]["saturation: % of floor calls/s"] = f"{100 * rate / floor_rate:.0f}"
    if floor_rate:
        results["floor"]["saturation: % of floor calls/s"] = "100"
    keys = []
    for name in columns:
        keys += [key for key in results[name] if not key.startswith("_") and key not in keys]
    headers = {"floor": "floor", "embedded": "embedded", "postgres": "postgres+redis", "cluster": "cluster (2 web)"}
    width = max(len(key) for key in keys) + 2
    traffic = (f"heartbeat 60 s, meter values {options.meter_every:.0f} s" if options.meter_every > 0 else
               "heartbeat 60 s only")
    print(f"\nOCPP load benchmark · {options.chargers} chargers held {options.hold:.0f} s ({traffic}) · "
          f"{options.saturation_chargers} saturating {options.saturation:.0f} s · {os.cpu_count()} CPUs · "
          f"{time.monotonic() - started:.0f} s in all")
    print("metric".ljust(width) + "".join(f"| {headers[name]:<16}" for name in columns))
    print("-" * (width + 18 * len(columns)))
    for key in keys:
        print(key.ljust(width) + "".join(f"| {str(results[name].get(key, '')):<16}" for name in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
