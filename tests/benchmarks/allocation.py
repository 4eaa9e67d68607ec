"""Allocation engine speed: 200 EVSEs in a three-level fuse tree (site → 10 sub-circuits → EVSEs), every mode.

    .venv/bin/python -m tests.benchmarks.allocation [--runs 1000] [--evses 200] [--sub-circuits 10] [--seed 8]

Run on demand (see README.md next to this file); pytest never collects it. No database, no Django: only
loadbalancing.engine, in this one process.
"""

import argparse
import random
import statistics
import time
from decimal import Decimal

from loadbalancing.engine import Demand, Group, Mode, allocate

WIRINGS = ((1, 2, 3), (2, 3, 1), (3, 1, 2), (1,), (2,), (3,))
SCENARIOS = 10  # different inputs, used round robin, so one lucky input does not decide the figure


def tree(main_fuse: int, sub_circuits: int, rng: random.Random) -> list[Group]:
    """A site with a building load of 40-150 A per phase, and sub-circuits of 3×160 A (together above the main
    fuse)."""
    site = Group(id="site", parent=None, limit=(Decimal(main_fuse),) * 3,
                 external_load=tuple(Decimal(rng.randint(400, 1500)).scaleb(-1) for _ in range(3)))
    return [site] + [Group(id=f"sub-{n}", parent="site", limit=(Decimal(160),) * 3,
                           external_load=(Decimal(rng.randint(0, 80)).scaleb(-1), Decimal(0), Decimal(0)))
                     for n in range(sub_circuits)]


def demands(evses: int, sub_circuits: int, rng: random.Random) -> list[Demand]:
    """Mostly three-phase cars on rotated chargers, some single-phase; 16 or 32 A chargers, some 10 A cars; one in
    ten with priority; a measured current on most (ignored in STATIC)."""
    made = []
    for n in range(evses):
        measured = None if rng.random() < 0.2 else Decimal(rng.randint(0, 320)).scaleb(-1)
        made.append(Demand(evse=f"EVSE-{n:03}", group=f"sub-{n % sub_circuits}",
                           wiring=rng.choices(WIRINGS, weights=(3, 3, 3, 1, 1, 1))[0],
                           max_current=Decimal(rng.choice((10, 16, 16, 32))), priority=int(rng.random() < 0.1),
                           measured=measured, started_order=rng.randint(0, 10_000)))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--evses", type=int, default=200)
    parser.add_argument("--sub-circuits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    options = parser.parse_args()

    print(f"{options.evses} EVSEs in {options.sub_circuits} sub-circuits under one main fuse, {options.runs} runs per "
          f"row, {SCENARIOS} inputs round robin")
    print(f"{'main fuse':>9} {'mode':<13} {'mean ms':>8} {'p95 ms':>8} {'max ms':>8} {'paused':>7} "
          f"{'site A L1/L2/L3':>22}")
    # 1250 A: every minimum fits and the main fuse limits the raises; 630 A: oversubscribed, many sessions paused.
    for main_fuse in (1250, 630):
        rng = random.Random(options.seed)
        inputs = [(tree(main_fuse, options.sub_circuits, rng), demands(options.evses, options.sub_circuits, rng))
                  for _ in range(SCENARIOS)]
        for mode in Mode:
            run_mode(options.runs, main_fuse, mode, inputs)
    print("target (issue 8): < 20 ms per allocation")


def run_mode(runs: int, main_fuse: int, mode: Mode, inputs: list[tuple[list[Group], list[Demand]]]) -> None:
    groups, first = inputs[0]
    result = allocate(groups=groups, demands=first, mode=mode)  # warm-up; its figures are printed
    timings = []
    for run in range(runs):
        groups, batch = inputs[run % SCENARIOS]
        started = time.perf_counter()
        allocate(groups=groups, demands=batch, mode=mode)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    site_load = "/".join(f"{load:.1f}" for load in result.group_load["site"])
    print(f"{main_fuse:>7} A {mode.value:<13} {statistics.fmean(timings):>8.2f} {p95:>8.2f} {timings[-1]:>8.2f} "
          f"{len(result.paused):>7} {site_load:>22}")


if __name__ == "__main__":
    main()
