"""Input fields of the Connect API that no value the schema allows can turn into a database error (a 500): ids within
the 64-bit range, times between 1970 and 2200 (they exist in every time zone), strict yes/no values. The filters
read query strings, the serializer fields read bodies; every area's views and serializers use these."""

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

#: Ids are 64-bit (BigAutoField); a larger number could not even be sent to the database.
MAX_ID = 2**63 - 1
#: Times outside these years cannot be converted between time zones safely; such input is a 400.
FIRST_YEAR, LAST_YEAR = 1970, 2200


def valid_id(value) -> bool:
    """True when ``value`` (a URL part) can be an id; anything else is simply not found."""
    text = str(value)
    return text.isascii() and text.isdigit() and int(text) <= MAX_ID


def year_error(moment) -> str | None:
    if moment is not None and not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return _("Give a time between the years %(first)d and %(last)d.") % {"first": FIRST_YEAR, "last": LAST_YEAR}
    return None


def id_field(**kwargs) -> serializers.IntegerField:
    """A database id in a body."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class InstantField(serializers.DateTimeField):
    """A time in a body (ISO 8601; without an offset the server's time zone), between FIRST_YEAR and LAST_YEAR."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        error = year_error(parsed)
        if error:
            raise serializers.ValidationError(error)
        return parsed


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A database id in the query string: a whole number in the id range, else a 400. Plain numbers, not choice
    filters: a choice filter would answer "not one of the available choices" for another organization's id and so
    tell that it exists."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _InstantFormField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        error = year_error(parsed)
        if error:
            raise forms.ValidationError(error, code="invalid")
        return parsed


class InstantFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time in the query string between FIRST_YEAR and LAST_YEAR, else a 400."""

    field_class = _InstantFormField


def strict_boolean(**kwargs) -> django_filters.TypedChoiceFilter:
    """A yes/no filter that answers 400 for anything but "true" or "false" (a plain BooleanFilter ignores it)."""
    return django_filters.TypedChoiceFilter(choices=[("true", "true"), ("false", "false")],
                                            coerce=lambda value: value == "true", **kwargs)
