"""The quarterly platform subscription invoices by hand: ``run_subscriptions --quarter 2026-Q1 [--dry-run]``."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.management import runs
from billing.services.invoicing import InvoiceError
from billing.services.subscriptions import subscription_run


class Command(BaseCommand):
    help = "Invoice the platform subscription of a quarter to every organization on a plan; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--quarter", required=True, help="The quarter, YYYY-Qn (e.g. 2026-Q1)")
        parser.add_argument("--organization", help="Slug of one organization (default: all on a plan)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be invoiced; write nothing")

    def handle(self, *args, quarter, organization=None, dry_run=False, **options):
        try:
            summary = subscription_run(quarter=runs.quarter(quarter), organization=runs.organization(organization),
                                       now=timezone.now(), dry_run=dry_run,
                                       progress=runs.progress_printer(self, "organizations"))
        except InvoiceError as error:
            raise CommandError(str(error)) from None
        for planned in summary.invoices:
            self.stdout.write(f"{planned.number or planned.organization}: {planned.charge_point_months} charge point "
                              f"months, {planned.total}")
        verb = "would create" if dry_run else "created"
        self.stdout.write(self.style.SUCCESS(
            f"{summary.quarter}: {verb} {len(summary.invoices)} invoices; {summary.already_invoiced} already "
            f"invoiced, {summary.without_charge_points} without charge points."))
