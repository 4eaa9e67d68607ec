"""The billing run commands' shared input handling: periods, quarters and the organization they are limited to."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.management.runs import month, quarter


@pytest.mark.parametrize(("value", "expected"), [("2026-03", (2026, 3)), ("2025-12", (2025, 12))])
def test_months(value, expected):
    assert month(value) == expected


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "2026-3", "march", ""])
def test_bad_months_are_refused(value):
    with pytest.raises(CommandError, match="is not a period"):
        month(value)


@pytest.mark.parametrize(("value", "expected"), [("2026-Q1", (2026, 1)), ("2026-q4", (2026, 4))])
def test_quarters(value, expected):
    assert quarter(value) == expected


@pytest.mark.parametrize("value", ["2026-Q5", "2026-Q0", "2026-1", "Q1-2026"])
def test_bad_quarters_are_refused(value):
    with pytest.raises(CommandError, match="is not a quarter"):
        quarter(value)


@pytest.mark.django_db
@pytest.mark.parametrize(("command", "arguments"), [
    ("run_invoices", ["--period", "2026-03", "--organization", "nobody"]),
    ("run_statements", ["--period", "2026-03", "--organization", "nobody"]),
    ("run_commissions", ["--period", "2026-03", "--reseller", "nobody"]),
    ("run_subscriptions", ["--quarter", "2026-Q1", "--organization", "nobody"]),
])
def test_an_unknown_organization_is_a_clear_error(command, arguments):
    with pytest.raises(CommandError, match="No organization with the slug 'nobody'"):
        call_command(command, *arguments)
