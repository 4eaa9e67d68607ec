"""The monthly resident invoice run by hand: ``run_invoices --period 2026-03 [--organization brf-x] [--dry-run]``."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.management import runs
from billing.services.invoicing import InvoiceError, invoice_run


class Command(BaseCommand):
    help = "Create the resident invoices of a month (one per resident per association); idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month to invoice, YYYY-MM")
        parser.add_argument("--organization", help="Slug of one association (default: all)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be invoiced; write nothing")

    def handle(self, *args, period, organization=None, dry_run=False, **options):
        try:
            summary = invoice_run(period=runs.month(period), organization=runs.organization(organization),
                                  now=timezone.now(), dry_run=dry_run,
                                  progress=runs.progress_printer(self, "residents"))
        except InvoiceError as error:
            raise CommandError(str(error)) from None
        for problem in summary.skipped:
            self.stderr.write(problem)
        verb = "would create" if dry_run else "created"
        self.stdout.write(self.style.SUCCESS(
            f"{period}: {verb} {len(summary.invoices)} invoices ({summary.sessions} sessions, {summary.fees} fees, "
            f"{summary.total} in total); {summary.already_invoiced} residents already invoiced."))
