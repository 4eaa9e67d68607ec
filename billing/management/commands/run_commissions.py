"""Resellers' monthly commission statements by hand: ``run_commissions --period 2026-03 [--reseller x] [--dry-run]``."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.management import runs
from billing.services.commissions import CommissionError, commission_run


class Command(BaseCommand):
    help = "Make the resellers' commission statements (and schedule the payouts) of a month; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month, YYYY-MM")
        parser.add_argument("--reseller", help="Slug of one reseller (default: all with a billing profile)")
        parser.add_argument("--dry-run", action="store_true", help="Show the figures; write nothing")

    def handle(self, *args, period, reseller=None, dry_run=False, **options):
        try:
            summary = commission_run(period=runs.month(period), reseller=runs.organization(reseller),
                                     now=timezone.now(), dry_run=dry_run,
                                     progress=runs.progress_printer(self, "resellers"))
        except CommissionError as error:
            raise CommandError(str(error)) from None
        for planned in summary.commissions:
            self.stdout.write(f"{planned.number or planned.reseller}: base {planned.revenue_excl} excl. VAT "
                              f"({planned.statements} statements), commission {planned.commission_excl} excl. VAT, "
                              f"{planned.commission_incl} incl. VAT")
        verb = "would make" if dry_run else "made"
        self.stdout.write(self.style.SUCCESS(f"{period}: {verb} {len(summary.commissions)} commission statements; "
                                             f"{summary.already_done} already made."))
