"""Connect API report formats: the query parameters of the reports (months as YYYY-MM in the station owner's time
zone) and the rows of the energy, utilization and benefit-tax reports, as JSON and as CSV rows for the exports.
Money as strings with two decimals per currency, energy in integer Wh."""

import re
from datetime import date
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from charging.selectors.reports import GROUP_BY, BenefitRow, EnergyRow, Revenue, UtilizationRow, report_zone
from csms.api.fields import MAX_ID

MAX_MONTHS = 120
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def current_month() -> date:
    today = timezone.localtime(timezone.now(), report_zone()).date()
    return today.replace(day=1)


class MonthField(serializers.CharField):
    """A calendar month as YYYY-MM (2000-01 to 2099-12), returned as its first day."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        match = _MONTH.match(text)
        if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2099:
            raise serializers.ValidationError(_("Give a month as YYYY-MM, e.g. 2026-01 (years 2000-2099)."))
        return date(int(match.group(1)), int(match.group(2)), 1)


class PeriodQuerySerializer(serializers.Serializer):
    from_ = MonthField(required=False, help_text="First month, YYYY-MM (default: this month).")
    to = MonthField(required=False, help_text="Last month, YYYY-MM, included (default: the first month).")
    charge_point = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                            help_text="Only this charge point (database id).")
    location = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                        help_text="Only charge points at this location (database id).")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs):
        first = attrs.pop("from", None) or current_month()
        last = attrs.pop("to", None) or first
        if last < first:
            raise serializers.ValidationError({"to": [_("The last month is before the first.")]})
        if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
            raise serializers.ValidationError({"to": [_("A report covers at most %(n)s months.") % {
                "n": MAX_MONTHS}]})
        return {**attrs, "first": first, "last": last}


class EnergyQuerySerializer(PeriodQuerySerializer):
    group_by = serializers.ChoiceField(choices=GROUP_BY, default="station",
                                       help_text="station, user or month (default station).")
    user = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Only this driver.")


class BenefitQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2099, help_text="The year, e.g. 2026.")
    month = serializers.IntegerField(required=False, min_value=1, max_value=12,
                                     help_text="One month of the year (default: every month of it).")
    user = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Only this employee.")
    charge_point = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                            help_text="Only this charge point.")

    def validate(self, attrs):
        year, month = attrs.pop("year"), attrs.pop("month", None)
        first = date(year, month or 1, 1)
        return {**attrs, "first": first, "last": date(year, month or 12, 1)}


class RevenueSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount_incl_vat = serializers.CharField(help_text="Two decimals, e.g. \"23.75\".")
    amount_excl_vat = serializers.CharField()


def revenue_json(revenue: list[Revenue]) -> list[dict]:
    return [{"currency": r.currency, "amount_incl_vat": _money(r.incl_vat), "amount_excl_vat": _money(r.excl_vat)}
            for r in revenue]


class EnergyRowSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text="The charge point or user database id, or the month "
                                                           "(YYYY-MM); null for sessions without a known user.")
    label = serializers.CharField(help_text="The charge point's OCPP identity, the user's e-mail, or the month.")
    energy_wh = serializers.IntegerField()
    sessions = serializers.IntegerField(help_text="Finished sessions that started in the period.")
    priced_sessions = serializers.IntegerField(help_text="Of those, the ones with a stored price.")
    revenue = RevenueSerializer(many=True, help_text="Sum of the priced sessions' costs, per currency.")


class EnergyReportSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    period_from = serializers.CharField(help_text="YYYY-MM")
    period_to = serializers.CharField(help_text="YYYY-MM")
    rows = EnergyRowSerializer(many=True)


class UtilizationRowSerializer(serializers.Serializer):
    charge_point = serializers.IntegerField(help_text="Database id.")
    identity = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM")
    hours_occupied = serializers.CharField(help_text="Hours with at least one session charging, two decimals.")
    share_percent = serializers.CharField(help_text="Share of the month's hours, percent with one decimal.")
    sessions = serializers.IntegerField(help_text="Sessions charging in the month.")


class UtilizationReportSerializer(serializers.Serializer):
    period_from = serializers.CharField()
    period_to = serializers.CharField()
    rows = UtilizationRowSerializer(many=True)


class BenefitRowSerializer(serializers.Serializer):
    user = serializers.IntegerField(help_text="The employee's user id.")
    user_label = serializers.CharField()
    charge_point = serializers.IntegerField()
    identity = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM")
    energy_wh = serializers.IntegerField()
    sessions = serializers.IntegerField()
    priced_sessions = serializers.IntegerField()
    cost = RevenueSerializer(many=True)


class BenefitReportSerializer(serializers.Serializer):
    period_from = serializers.CharField()
    period_to = serializers.CharField()
    rows = BenefitRowSerializer(many=True)


def energy_row_json(row: EnergyRow) -> dict:
    key = f"{row.key:%Y-%m}" if isinstance(row.key, date) else (None if row.key is None else str(row.key))
    return {"key": key, "label": row.label, "energy_wh": row.energy_wh, "sessions": row.sessions,
            "priced_sessions": row.priced_sessions, "revenue": revenue_json(row.revenue)}


def utilization_row_json(row: UtilizationRow) -> dict:
    return {"charge_point": row.charge_point_id, "identity": row.identity, "month": f"{row.month:%Y-%m}",
            "hours_occupied": str(row.hours_occupied), "share_percent": str(row.share_percent),
            "sessions": row.sessions}


def benefit_row_json(row: BenefitRow) -> dict:
    return {"user": row.user_id, "user_label": row.user_label, "charge_point": row.charge_point_id,
            "identity": row.identity, "month": f"{row.month:%Y-%m}", "energy_wh": row.energy_wh,
            "sessions": row.sessions, "priced_sessions": row.priced_sessions, "cost": revenue_json(row.cost)}


# --- CSV: one line per row and currency; a group priced in two currencies gets a second line whose energy and
# session columns are empty, so summing a column never counts anything twice.
ENERGY_CSV_HEADER = ["key", "label", "energy_wh", "sessions", "priced_sessions", "currency", "revenue_incl_vat",
                     "revenue_excl_vat"]
UTILIZATION_CSV_HEADER = ["charge_point", "identity", "month", "hours_occupied", "share_percent", "sessions"]
BENEFIT_CSV_HEADER = ["user", "user_label", "charge_point", "identity", "month", "energy_wh", "sessions",
                      "priced_sessions", "currency", "cost_incl_vat", "cost_excl_vat"]


def _money_lines(head: list, counts: list, revenue: list[dict]):
    if not revenue:
        yield [*head, *counts, "", "", ""]
        return
    for number, money in enumerate(revenue):
        yield [*head, *(counts if number == 0 else [""] * len(counts)), money["currency"],
               money["amount_incl_vat"], money["amount_excl_vat"]]


def energy_csv_rows(rows):
    for row in map(energy_row_json, rows):
        yield from _money_lines([row["key"], row["label"]], [row["energy_wh"], row["sessions"],
                                                             row["priced_sessions"]], row["revenue"])


def utilization_csv_rows(rows):
    for row in map(utilization_row_json, rows):
        yield [row[name] for name in UTILIZATION_CSV_HEADER]


def benefit_csv_rows(rows):
    for row in map(benefit_row_json, rows):
        yield from _money_lines([row["user"], row["user_label"], row["charge_point"], row["identity"], row["month"]],
                                [row["energy_wh"], row["sessions"], row["priced_sessions"]], row["cost"])
