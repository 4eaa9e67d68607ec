"""Formatting for portal pages in the reader's language: money as "3 324,70 kr" in Swedish ("SEK 3,324.70" in
English), energy from Wh as kWh, and the active-menu marker."""

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils import formats, translation
from django.utils.safestring import mark_safe

register = template.Library()

_SYMBOL_AFTER = {"sv": {"SEK": "kr"}, "nb": {"NOK": "kr"}, "de": {"EUR": "€"}}


@register.filter
def money(value, currency: str = "SEK") -> str:
    """A Decimal amount with two decimals, grouped and written the way the active language writes money."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    number = formats.number_format(amount, 2, use_l10n=True, force_grouping=True)
    language = (translation.get_language() or "sv").split("-")[0]
    symbol = _SYMBOL_AFTER.get(language, {}).get(currency)
    return f"{number}\u00a0{symbol}" if symbol else f"{currency}\u00a0{number}"


@register.filter
def kwh(wh, decimals: int = 2) -> str:
    """Integer Wh as kWh with ``decimals`` decimals in the active language ("1 234,57")."""
    if wh is None or wh == "":
        return ""
    value = (Decimal(int(wh)) / 1000).quantize(Decimal(1).scaleb(-int(decimals)), rounding=ROUND_HALF_UP)
    return formats.number_format(value, int(decimals), use_l10n=True, force_grouping=True)


@register.simple_tag(takes_context=True)
def active(context, *url_names) -> str:
    """' aria-current="page"' when the current page is one of ``url_names`` (for the menu)."""
    match = getattr(context.get("request"), "resolver_match", None)
    if match is not None and f"{match.namespace}:{match.url_name}" in url_names:
        return mark_safe(' aria-current="page"')
    return ""
