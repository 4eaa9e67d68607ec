"""What the billing run commands (run_invoices, run_statements, run_commissions, run_subscriptions) share: reading
the period or quarter and the one organization they may be limited to, and printing progress."""

import re

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization


def month(value: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 1 <= int(match[2]) <= 12:
        raise CommandError(f"{value!r} is not a period (YYYY-MM).")
    return int(match[1]), int(match[2])


def quarter(value: str) -> tuple[int, int]:
    """``YYYY-Qn`` → (year, n)."""
    match = re.fullmatch(r"(\d{4})-Q([1-4])", value.upper())
    if not match:
        raise CommandError(f"{value!r} is not a quarter (YYYY-Qn).")
    return int(match[1]), int(match[2])


def organization(slug: str | None) -> Organization | None:
    """The organization a run is limited to (None: all)."""
    if not slug:
        return None
    found = Organization.objects.filter(slug=slug).first()
    if found is None:
        raise CommandError(f"No organization with the slug {slug!r}.")
    return found


def progress_printer(command: BaseCommand, what: str):
    """A ``progress(done, total)`` callback writing "done/total <what>" on one line."""

    def progress(done: int, total: int) -> None:
        command.stdout.write(f"\r{done}/{total} {what}", ending="")
        if done == total:
            command.stdout.write("")

    return progress
