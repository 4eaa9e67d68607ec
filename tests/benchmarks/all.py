"""Every benchmark in one run, side by side, as one table (the table of docs/performance.md).

    DATABASE_URL=postgres://csms:csms@127.0.0.1:5432/csms .venv/bin/python -m tests.benchmarks.all [--quick]

Each benchmark runs as its own process, one after the other (they would otherwise share the cores), with the
sizes of the issue (``--quick``: smaller, for a look). Their full output goes to ``artifacts/benchmarks/<name>.txt``;
the figures that matter are read from it and printed at the end as a Markdown table with the target, where the
issue names one, and the machine it ran on. With DATABASE_URL naming PostgreSQL the database benchmarks run there
(each in a throw-away database of its own); the OCPP benchmark always runs its floor, the embedded server, one
process on PostgreSQL + Redis and the cluster (nginx + 2 processes).
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "artifacts" / "benchmarks"

Row = tuple[str, str, str]  # figure, value, target


@dataclass
class Benchmark:
    name: str
    module: str
    args: list[str]
    quick_args: list[str]
    read: Callable[[str], list[Row]]


def _find(pattern: str, text: str, default: str = "—") -> str:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else default


def read_ocpp(text: str) -> list[Row]:
    """The final table of ocpp_load: one row per figure, one column per server."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("metric ")), None)
    if header is None:
        return [("OCPP load", "no table (see the log)", "")]
    columns = [cell.strip() for cell in lines[header].split("|")[1:]]
    table = {}
    for line in lines[header + 2:]:
        if "|" not in line:
            break
        cells = [cell.strip() for cell in line.split("|")]
        table[cells[0].strip()] = dict(zip(columns, cells[1:], strict=False))

    def row(figure: str, key: str, target: str = "") -> Row:
        values = table.get(key, {})
        return (figure, " · ".join(f"{column}: {values.get(column, '—')}" for column in columns), target)

    return [
        row("OCPP: chargers held (heartbeat 60 s, meter values 30 s)", "hold: chargers connected", "≥ 10 000"),
        row("OCPP: failures while held", "hold: call failures", "0"),
        row("OCPP: call p99 while held (ms)", "hold: call p99 (ms)", "< 100"),
        row("OCPP: connect time for all (s)", "hold: connect time (s)"),
        row("OCPP: server KB per connected charger", "hold: server KB per connection", "≤ 60"),
        row("OCPP: server CPU while held (% of a core)", "hold: server CPU during hold (% core)",
            "≤ 10 % for 5 000 idle"),
        row("OCPP: server CPU while held, per process group (% of a core)", "hold: CPU by process (% core)"),
        row("OCPP: web process GC stalls while held (count · total ms · over 100 ms)",
            "hold: server GC pauses (count · total ms · over 100 ms)"),
        row("OCPP: persisted MeterValues calls/s (500 chargers back to back)", "saturation: calls/s"),
        row("OCPP: saturation as % of the floor", "saturation: % of floor calls/s", "≥ 100 %"),
        row("OCPP: saturation call p99 (ms)", "saturation: call p99 (ms)"),
        row("OCPP: server CPU µs per call (all processes)", "saturation: server CPU µs/call (all procs)"),
    ]


def read_idle(text: str) -> list[Row]:
    """The idle fleet (heartbeats only) on one process on PostgreSQL + Redis."""
    table = {line.split("|")[0].strip(): line.split("|")[1].strip() for line in text.splitlines()
             if line.startswith("hold: ") and "|" in line}
    return [("OCPP idle fleet (heartbeat 60 s only), one process: chargers held",
             table.get("hold: chargers connected", "—"), "5 000"),
            ("OCPP idle fleet: server CPU (% of a core; web process + PostgreSQL + Redis)",
             table.get("hold: server CPU during hold (% core)", "—"), "≤ 10 %"),
            ("OCPP idle fleet: server KB per connected charger", table.get("hold: server KB per connection", "—"),
             "≤ 60")]


def read_pricing(text: str) -> list[Row]:
    return [("Pricing engine: sessions/s on one core (CPU time)", _find(r"sessions/s \(CPU\)\s+([\d,]+)", text),
             "≥ 2 000")]


def read_invoices(text: str) -> list[Row]:
    match = re.search(r"^(sqlite|postgresql)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+(\d+)", text,
                      re.MULTILINE)
    rows = []
    if match:
        vendor, invoices, lines, seconds, rate, _queries, _per, rss = match.groups()
        rows.append((f"Invoice run ({vendor}): {invoices} invoices, {lines} lines", f"{seconds} s ({rate} invoices/s), "
                     f"peak RSS {rss} MiB", "< 60 s, < 1 024 MiB"))
    else:
        rows.append(("Invoice run", "no figures (see the log)", "< 60 s"))
    rows.append(("Statement run (50 associations, same sessions)",
                 _find(r"^statement run: \d+ statements over \d+ sessions in (.+)$", text), ""))
    return rows


def _page(text: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}\s+([\d.]+)\s+([\d.]+)\s+(\d+)", text, re.MULTILINE)
    return f"median {match.group(1)} ms, p95 {match.group(2)} ms, {match.group(3)} queries" if match else "—"


def read_station_list(text: str) -> list[Row]:
    return [("Admin station list, 50 000 charge points: worst list page",
             _find(r"^Target for the list: .*?(Worst list p95 .*)$", text), "< 300 ms, ≤ 12 queries"),
            ("Admin station list: default page", _page(text, "list: default page"), "")]


def read_ocpi(text: str) -> list[Row]:
    return [("OCPI locations page, 50 000 EVSEs", _find(r"^Target for a page of .*?(Worst p95 .*)$", text), "")]


def read_portal(text: str) -> list[Row]:
    return [("Portal: board dashboard", _page(text, "board: dashboard"), "< 300 ms"),
            ("Connect API: session list (first page)", _page(text, "Connect API: sessions"), "< 300 ms"),
            ("Portal: every page", _find(r"^Target: every page p95 < \d+ ms: (.*)$", text), "< 300 ms")]


def read_pdf(text: str) -> list[Row]:
    return [("Invoice PDFs", _find(r"^(10 000 typical invoices: .*)$", text), "")]


BENCHMARKS = [
    Benchmark("ocpp_load", "tests.benchmarks.ocpp_load", ["--backend", "all", "--chargers", "10000", "--hold", "120"],
              ["--backend", "all", "--quick"], read_ocpp),
    Benchmark("ocpp_idle", "tests.benchmarks.ocpp_load",
              ["--backend", "postgres", "--no-floor", "--chargers", "5000", "--hold", "120", "--meter-every", "0",
               "--saturation-chargers", "50", "--saturation", "5"],
              ["--backend", "postgres", "--no-floor", "--chargers", "1000", "--hold", "30", "--meter-every", "0",
               "--saturation-chargers", "50", "--saturation", "5"], read_idle),
    Benchmark("pricing", "tests.benchmarks.pricing", [], ["--sessions", "20000"], read_pricing),
    Benchmark("invoice_run", "tests.benchmarks.invoice_run", [], ["--residents", "2000", "--sessions", "40000"],
              read_invoices),
    Benchmark("station_list", "tests.benchmarks.station_list", [], ["--stations", "10000", "--runs", "5"],
              read_station_list),
    Benchmark("ocpi_locations", "tests.benchmarks.ocpi_locations", [], ["--evses", "10000", "--runs", "5"], read_ocpi),
    Benchmark("portal_pages", "tests.benchmarks.portal_pages", [], ["--runs", "5", "--sessions", "2000"],
              read_portal),
    Benchmark("invoice_pdf", "tests.benchmarks.invoice_pdf", [], ["--seconds", "3"], read_pdf),
]


def machine() -> str:
    model = _find(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), platform.processor() or "?")
    memory_kb = int(_find(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), "0"))
    try:
        postgres = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        postgres = "no psql"
    return (f"{os.cpu_count()} CPUs ({model}), {memory_kb / 1024 / 1024:.0f} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {postgres}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a look")
    parser.add_argument("--only", nargs="*", help=f"some of: {', '.join(b.name for b in BENCHMARKS)}")
    parser.add_argument("--from-artifacts", action="store_true",
                        help="run nothing: print the table again from the outputs kept in artifacts/benchmarks/")
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = [b for b in BENCHMARKS if not options.only or b.name in options.only]
    rows: list[tuple[str, Row]] = []
    began = datetime.now(UTC)
    if options.from_artifacts:
        kept = [OUT / f"{b.name}.txt" for b in chosen if (OUT / f"{b.name}.txt").exists()]
        began = datetime.fromtimestamp(min((path.stat().st_mtime for path in kept), default=time.time()), UTC)
    for benchmark in chosen:
        if options.from_artifacts:
            path = OUT / f"{benchmark.name}.txt"
            if path.exists():
                rows += [(benchmark.name, row) for row in benchmark.read(path.read_text())]
            continue
        command = [sys.executable, "-m", benchmark.module, *(benchmark.quick_args if options.quick else
                                                             benchmark.args)]
        sys.stdout.write(f"== {benchmark.name}: {' '.join(command[1:])}\n")
        sys.stdout.flush()
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        output = result.stdout + result.stderr
        (OUT / f"{benchmark.name}.txt").write_text(output)
        sys.stdout.write(f"   {time.monotonic() - started:.0f} s, exit {result.returncode}, log "
                         f"{OUT / (benchmark.name + '.txt')}\n")
        rows += [(benchmark.name, row) for row in benchmark.read(output)]
    sys.stdout.write(f"\nBenchmarks of {began:%Y-%m-%d %H:%M} UTC{' (--quick)' if options.quick else ''} on "
                     f"{machine()}; database: {os.environ.get('DATABASE_URL', 'SQLite').split('@')[-1]}\n\n")
    sys.stdout.write("| figure | measured | target |\n|---|---|---|\n")
    for _name, (figure, value, target) in rows:
        sys.stdout.write(f"| {figure} | {value} | {target} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
