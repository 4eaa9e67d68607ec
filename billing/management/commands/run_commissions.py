"""Resellers' monthly commission statements by hand: ``run_commissions --period 2026-03 [--reseller x] [--dry-run]``."""

import re

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from billing.services.commissions import CommissionError, commission_run


class Command(BaseCommand):
    help = "Make the resellers' commission statements (and schedule the payouts) of a month; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month, YYYY-MM")
        parser.add_argument("--reseller", help="Slug of one reseller (default: all with a billing profile)")
        parser.add_argument("--dry-run", action="store_true", help="Show the figures; write nothing")

    def handle(self, *args, period, reseller=None, dry_run=False, **options):
        match = re.fullmatch(r"(\d{4})-(\d{2})", period)
        if not match:
            raise CommandError(f"{period!r} is not a period (YYYY-MM).")
        org = None
        if reseller:
            org = Organization.objects.filter(slug=reseller).first()
            if org is None:
                raise CommandError(f"No organization with the slug {reseller!r}.")

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"\r{done}/{total} resellers", ending="")
            if done == total:
                self.stdout.write("")

        try:
            summary = commission_run(period=(int(match[1]), int(match[2])), reseller=org, now=timezone.now(),
                                     dry_run=dry_run, progress=progress)
        except CommissionError as error:
            raise CommandError(str(error)) from None
        for planned in summary.commissions:
            self.stdout.write(f"{planned.number or planned.reseller}: base {planned.revenue_excl} excl. VAT "
                              f"({planned.statements} statements), commission {planned.commission_excl} excl. VAT, "
                              f"{planned.commission_incl} incl. VAT")
        verb = "would make" if dry_run else "made"
        self.stdout.write(self.style.SUCCESS(f"{period}: {verb} {len(summary.commissions)} commission statements; "
                                             f"{summary.already_done} already made."))
