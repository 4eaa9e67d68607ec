"""The monthly self-billing statements by hand: ``run_statements --period 2026-03 [--organization x] [--dry-run]``."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.management import runs
from billing.services.statements import StatementError, statement_run


class Command(BaseCommand):
    help = "Make the self-billing statements (and schedule the payouts) of a month; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month, YYYY-MM")
        parser.add_argument("--organization", help="Slug of one association (default: all with a billing profile)")
        parser.add_argument("--dry-run", action="store_true", help="Show the figures; write nothing")

    def handle(self, *args, period, organization=None, dry_run=False, **options):
        try:
            summary = statement_run(period=runs.month(period), organization=runs.organization(organization),
                                  now=timezone.now(), dry_run=dry_run,
                                  progress=runs.progress_printer(self, "associations"))
        except StatementError as error:
            raise CommandError(str(error)) from None
        for planned in summary.statements:
            self.stdout.write(f"{planned.number or planned.organization}: charging {planned.total}, fee {planned.fee}, "
                              f"payout {planned.payout} ({planned.invoices} invoices, {planned.sessions} public "
                              "sessions)")
        verb = "would make" if dry_run else "made"
        self.stdout.write(self.style.SUCCESS(f"{period}: {verb} {len(summary.statements)} statements; "
                                             f"{summary.already_done} already made."))
