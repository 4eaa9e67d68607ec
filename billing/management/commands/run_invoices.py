"""The monthly resident invoice run by hand: ``run_invoices --period 2026-03 [--organization brf-x] [--dry-run]``."""

import re

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from billing.services.invoicing import InvoiceError, invoice_run


class Command(BaseCommand):
    help = "Create the resident invoices of a month (one per resident per association); idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month to invoice, YYYY-MM")
        parser.add_argument("--organization", help="Slug of one association (default: all)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be invoiced; write nothing")

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
            self.stdout.write(f"\r{done}/{total} residents", ending="")
            if done == total:
                self.stdout.write("")

        try:
            summary = invoice_run(period=(int(match[1]), int(match[2])), organization=org, now=timezone.now(),
                                  dry_run=dry_run, progress=progress)
        except InvoiceError as error:
            raise CommandError(str(error)) from None
        for problem in summary.skipped:
            self.stderr.write(problem)
        verb = "would create" if dry_run else "created"
        self.stdout.write(self.style.SUCCESS(
            f"{period}: {verb} {len(summary.invoices)} invoices ({summary.sessions} sessions, {summary.fees} fees, "
            f"{summary.total} in total); {summary.already_invoiced} residents already invoiced."))
