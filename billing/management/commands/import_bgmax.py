"""Import a Bankgirot BgMax file by hand: ``import_bgmax <file>`` (exact matches paid, the rest to the queue)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.bgmax import BgmaxError
from billing.services.payments import bgmax_import


class Command(BaseCommand):
    help = "Import a BgMax file: apply exact OCR matches, queue the rest for manual matching; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the BgMax file")

    def handle(self, *args, file, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        try:
            payment_import, created = bgmax_import(data=data, file_name=path.name, acting_user=None,
                                                   now=timezone.now())
        except BgmaxError as error:
            raise CommandError("Not a valid BgMax file:\n" + "\n".join(str(i) for i in error.issues)) from None
        if not created:
            self.stdout.write(f"{path.name} was already imported on {payment_import.imported_at:%Y-%m-%d %H:%M}; "
                              "nothing changed.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"{payment_import.payments} payments: {payment_import.applied} applied, {payment_import.queued} to the "
            f"matching queue, {payment_import.duplicates} already recorded."))
