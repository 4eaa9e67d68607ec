"""The price-increase notice rule: a new tariff more than 7 % above the highest tariff in force at the station during
the last 30 days needs a valid-from at least 30 days ahead.

Pure code: no Django, no database. Prices are compared per kWh including VAT, so a net tariff (prices excluding
VAT) and a consumer tariff compare fairly, and AC and DC are checked separately (a tariff that raises either needs
notice). "More than 7 %" is strict: 4.00 → 4.28 (exactly +7 %) is allowed at once, 4.29 is not.

Comparable prices: a fixed tariff's energy price; 0 for a free tariff (so free → paid always needs notice); a dynamic
tariff's cap, the most a driver can pay. A dynamic tariff without a cap has no comparable price: as the new tariff it
needs notice whenever an earlier tariff was in force; among the earlier tariffs it is left out of the comparison.

The result's ``message`` is English; ``template`` (marked for translation) and ``params`` let a form show it
translated: ``gettext(check.template) % check.params``.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from billing.pricing import CurrentType, Tariff, VatMode

NOTICE_PERIOD = timedelta(days=30)
LOOKBACK_PERIOD = timedelta(days=30)
MAX_INCREASE_WITHOUT_NOTICE = Decimal("1.07")
_PERCENT_STEP = Decimal("0.01")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django."""
    return message


@dataclass(frozen=True, slots=True)
class PriceIncreaseCheck:
    """Whether a new tariff may apply from the valid-from asked for.

    ``earliest_valid_from`` (UTC) is the asked valid-from when allowed, otherwise ``now`` + 30 days.
    """

    allowed: bool
    earliest_valid_from: datetime
    highest_recent_price: Decimal | None
    new_price: Decimal | None
    increase_percent: Decimal | None
    template: str
    params: dict[str, object] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.template % self.params


def comparable_price(tariff: Tariff, current_type: CurrentType | str) -> Decimal | None:
    """The tariff's price per kWh including VAT for the comparison, or None when it has none (uncapped dynamic)."""
    if tariff.free:
        return Decimal(0)
    if tariff.dynamic is not None:
        price = tariff.dynamic.cap
        if price is None:
            return None
    else:
        price = tariff.energy_price(CurrentType(current_type))
    if tariff.vat_mode == VatMode.EXCLUDED:
        price = price * (1 + tariff.vat_rate / 100)
    return price


def check_price_increase(*, recent_prices: Iterable[Decimal | None], new_price: Decimal | None,
                         valid_from: datetime, now: datetime) -> PriceIncreaseCheck:
    """Apply the rule to comparable prices: those in force during the last 30 days, and the new one.

    None stands for a price that cannot be compared (an uncapped dynamic tariff), see the module docstring.
    """
    for value, name in ((valid_from, "valid_from"), (now, "now")):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}.")
    # In UTC: arithmetic and comparisons on datetimes sharing a ZoneInfo follow the wall clock, not elapsed time.
    valid_from, now = valid_from.astimezone(UTC), now.astimezone(UTC)
    earliest = now + NOTICE_PERIOD
    prices = list(recent_prices)
    for price in [*prices, new_price]:
        if isinstance(price, float):
            raise TypeError(f"Prices must be Decimal, not the float {price!r}.")
    anything_before = bool(prices)
    comparable = [price for price in prices if price is not None]
    highest = max(comparable) if comparable else None

    if valid_from >= earliest:
        return PriceIncreaseCheck(True, valid_from, highest, new_price, _percent(highest, new_price),
                                  gettext_noop("Announced at least 30 days ahead: any price is allowed."))
    if not anything_before:
        return PriceIncreaseCheck(True, valid_from, None, new_price, None,
                                  gettext_noop("No tariff was in force during the last 30 days."))
    if new_price is None:
        return PriceIncreaseCheck(
            False, earliest, highest, None, None,
            gettext_noop("A dynamic price without a cap can rise without limit, so it needs 30 days' notice: "
                         "valid from %(earliest)s at the earliest."),
            {"earliest": _when(earliest)})
    if highest is None or new_price <= highest * MAX_INCREASE_WITHOUT_NOTICE:
        return PriceIncreaseCheck(True, valid_from, highest, new_price, _percent(highest, new_price),
                                  gettext_noop("At most 7 %% above the highest price of the last 30 days."))
    return PriceIncreaseCheck(
        False, earliest, highest, new_price, _percent(highest, new_price),
        gettext_noop("The new price %(new)s is more than 7 %% above the highest price of the last 30 days "
                     "(%(highest)s), so it needs 30 days' notice: valid from %(earliest)s at the earliest."),
        {"new": new_price, "highest": highest, "earliest": _when(earliest)})


def check_tariff_change(*, recent_tariffs: Iterable[Tariff], new_tariff: Tariff, valid_from: datetime,
                        now: datetime) -> PriceIncreaseCheck:
    """The rule for a whole tariff: AC and DC are checked separately; the stricter answer counts."""
    recent = list(recent_tariffs)
    checks = [check_price_increase(recent_prices=[comparable_price(tariff, current) for tariff in recent],
                                   new_price=comparable_price(new_tariff, current), valid_from=valid_from, now=now)
              for current in (CurrentType.AC, CurrentType.DC)]
    refused = [check for check in checks if not check.allowed]
    return refused[0] if refused else checks[0]


def _percent(highest: Decimal | None, new_price: Decimal | None) -> Decimal | None:
    if highest is None or new_price is None or not highest:
        return None
    return ((new_price - highest) * 100 / highest).quantize(_PERCENT_STEP, rounding=ROUND_HALF_UP)


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
