"""Shared field settings of the billing models."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator

CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]
UNIT_PRICE = {"max_digits": 12, "decimal_places": 5}
NOT_NEGATIVE = [MinValueValidator(Decimal(0))]
