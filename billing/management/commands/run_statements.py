"""The monthly self-billing statements by hand: ``run_statements --period 2026-03 [--organization x] [--dry-run]``."""

import re

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from billing.services.statements import StatementError, statement_run


class Command(BaseCommand):
    help = "Make the self-billing statements (and schedule the payouts) of a month; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month, YYYY-MM")
        parser.add_argument("--organization", help="Slug of one association (default: all with a billing profile)")
        parser.add_argument("--dry-run", action="store_true", help="Show the figures; write nothing")

    def handle(self, *args, period, organization=None, dry_run=False, **options):
        match = re.fullmatch(r"(\d{4})-(\d{2})", period)
        if not match:
            raise CommandError(f"{period!r} is not a period (YYYY-MM).")
        org = None
        if organization:
            org = Organization.objects.filter(slug=organization).first()
            if org is None:
                raise CommandError(f"No organization with the slug {organization!r}.")

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"\r{done}/{total} associations", ending="")
            if done == total:
                self.stdout.write("")

        try:
            summary = statement_run(period=(int(match[1]), int(match[2])), organization=org, now=timezone.now(),
                                    dry_run=dry_run, progress=progress)
        except StatementError as error:
            raise CommandError(str(error)) from None
        for planned in summary.statements:
            self.stdout.write(f"{planned.number or planned.organization}: charging {planned.total}, fee {planned.fee}, "
                              f"payout {planned.payout} ({planned.invoices} invoices, {planned.sessions} public "
                              "sessions)")
        verb = "would make" if dry_run else "made"
        self.stdout.write(self.style.SUCCESS(f"{period}: {verb} {len(summary.statements)} statements; "
                                             f"{summary.already_done} already made."))
