"""Pricing engine throughput: price many sessions with 15-minute samples and dynamic spot prices on one core.

    .venv/bin/python -m tests.benchmarks.pricing [--sessions 100000] [--seed 5]

Run on demand (see README.md next to this file); pytest never collects it. No database, no Django: only
billing.pricing, in this one process.
"""

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.pricing import DynamicPricing, SpotSeries, Tariff, TariffTimeline, VatMode, price_session

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_DAYS = 31
QUARTER = timedelta(minutes=15)


def spot_month(rng: random.Random) -> SpotSeries:
    """A month of quarter-hour prices in SEK/kWh (excl. VAT) with a daily shape, some negative, and a missing day
    part so the fallback path is exercised too."""
    intervals = []
    for quarter in range(MONTH_DAYS * 96):
        start = MONTH_START + quarter * QUARTER
        if start.day == 14 and 10 <= start.hour < 13:
            continue
        hour = start.hour
        base = 35 if hour < 6 else 120 if 7 <= hour < 10 or 16 <= hour < 20 else 70
        price = Decimal(rng.randint(base - 40, base + 60)) / 100 - Decimal("0.05")
        intervals.append((start, start + QUARTER, price.quantize(Decimal("0.00001"))))
    return SpotSeries(intervals)


def tariffs() -> TariffTimeline:
    """A dynamic consumer tariff with a blocking fee and a session fee, replaced mid-month by a dearer markup."""
    def tariff(markup: str) -> Tariff:
        return Tariff("SEK", time_price_per_minute=Decimal("0.50"), free_minutes=240, session_fee=Decimal("2.00"),
                      vat_mode=VatMode.INCLUDED, vat_rate=Decimal(25),
                      dynamic=DynamicPricing(fallback_spot_price=Decimal("1.00"), multiplier=Decimal("1.00"),
                                             markup=Decimal(markup), floor=Decimal("0.25"), cap=Decimal("6.00")))
    return TariffTimeline([(MONTH_START - timedelta(days=60), tariff("0.60")),
                           (MONTH_START + timedelta(days=15, hours=12), tariff("0.75"))])


def sessions(count: int, rng: random.Random) -> list[tuple[datetime, datetime, list[tuple[datetime, int]], int]]:
    """Sessions of 20 minutes to 12 hours; clock-aligned 15-minute samples plus the start and stop readings."""
    made = []
    last_start = MONTH_DAYS * 24 * 3600 - 13 * 3600
    for _ in range(count):
        start = MONTH_START + timedelta(seconds=rng.randint(0, last_start))
        stop = start + timedelta(seconds=rng.randint(20 * 60, 12 * 3600))
        power_w = rng.choice((3_700, 7_400, 11_000))
        full_after = timedelta(minutes=rng.randint(40, 400))  # the car stops drawing power after this
        samples = [(start, 0)]
        sample_at = start.replace(minute=start.minute - start.minute % 15, second=0) + QUARTER
        while sample_at < stop:
            charging = min(sample_at - start, full_after)
            samples.append((sample_at, power_w * (charging // timedelta(seconds=1)) // 3600))
            sample_at += QUARTER
        energy_wh = power_w * (min(stop - start, full_after) // timedelta(seconds=1)) // 3600
        samples.append((stop, energy_wh))
        made.append((start, stop, samples, energy_wh))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()

    rng = random.Random(options.seed)
    spots, timeline = spot_month(rng), tariffs()
    work = sessions(options.sessions, rng)
    samples_total = sum(len(samples) for _start, _stop, samples, _wh in work)

    lines = fallback = 0
    total = Decimal("0.00")
    wall, cpu = time.perf_counter(), time.process_time()
    for start, stop, samples, energy_wh in work:
        result = price_session(tariffs=timeline, start=start, stop=stop, current_type="AC", samples=samples,
                               energy_wh=energy_wh, spot_prices=spots)
        lines += len(result.lines)
        fallback += bool(result.fallback_periods)
        total += result.total_incl_vat
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    count = len(work)
    print(f"sessions priced          {count:>12,}")
    print(f"samples per session      {samples_total / count:>12.1f}")
    print(f"line items per session   {lines / count:>12.1f}")
    print(f"sessions using fallback  {fallback:>12,}")
    print(f"total incl. VAT (SEK)    {total:>12,}")
    print(f"wall time (s)            {wall:>12.2f}")
    print(f"CPU time (s)             {cpu:>12.2f}")
    print(f"µs per session (CPU)     {cpu / count * 1e6:>12.1f}")
    print(f"sessions/s (CPU)         {count / cpu:>12,.0f}")
    print(f"sessions/s (wall)        {count / wall:>12,.0f}   target >= 2,000 on one core")


if __name__ == "__main__":
    main()
