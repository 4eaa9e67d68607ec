"""Fetch day-ahead spot prices for one day or a range of days (back-filling), for some or all bidding areas."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing import spot
from billing.services.spot_prices import fetch_days
from billing.spot_fetch import SpotFetchError


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Fetch and store day-ahead spot prices (default: tomorrow, SE1–SE4, the configured SPOT_PRICE_SOURCE)."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Local day YYYY-MM-DD (default: tomorrow)")
        parser.add_argument("--end-date", help="Last day of a range to back-fill, YYYY-MM-DD (inclusive)")
        parser.add_argument("--area", action="append", choices=list(spot.BIDDING_AREAS),
                            help="Bidding area; repeat for several (default: all)")
        parser.add_argument("--source", choices=list(spot.SOURCES), help="Default: SPOT_PRICE_SOURCE")
        parser.add_argument("--force", action="store_true", help="Fetch again even if the day is already stored")

    def handle(self, *args, date=None, end_date=None, area=None, source=None, force=False, **options):
        first = _date(date) if date else timezone.localdate() + timedelta(days=1)
        last = _date(end_date) if end_date else first
        if last < first:
            raise CommandError("--end-date lies before --date.")
        if (last - first).days > 366:
            raise CommandError("Back-fill at most a year at a time.")
        failures = 0
        day = first
        while day <= last:
            try:
                outcomes = fetch_days(day=day, now=timezone.now(), areas=area or spot.BIDDING_AREAS,
                                      source=source, force=force)
            except SpotFetchError as error:
                raise CommandError(str(error)) from error
            for outcome in outcomes:
                if outcome.error:
                    failures += 1
                    self.stderr.write(f"{outcome.day} {outcome.area} ({outcome.source}): {outcome.error}")
                elif outcome.skipped:
                    self.stdout.write(f"{outcome.day} {outcome.area} ({outcome.source}): already stored")
                else:
                    result = outcome.stored
                    self.stdout.write(f"{outcome.day} {outcome.area} ({outcome.source}): {result.created} new, "
                                      f"{result.updated} changed, {result.unchanged} unchanged")
            day += timedelta(days=1)
        if failures:
            raise CommandError(f"{failures} day(s)/area(s) could not be fetched (recorded as spot price gaps).")
