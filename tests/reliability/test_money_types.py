"""Money is never a float (issue 13, data safety): every model field of the project's apps and every property of
the Connect API's schema is walked. Amounts are Decimal columns with öre precision (or django-money fields) and
travel through the API as decimal strings, never as JSON numbers that a client would parse into a binary float.
"""

import re

import pytest
from django.apps import apps
from django.db import models
from djmoney.models.fields import MoneyField

PROJECT_APPS = {"accounts", "charging", "billing", "roaming", "loadbalancing", "webhooks"}
#: Names that hold money wherever they appear (a model field or an API property).
MONEY = re.compile(r"(^|_)(amount|price|prices|total|totals|vat|fee|fees|cost|costs|balance|payout|excl|incl|"
                   r"taxable|rounding|refund|revenue|credit|preauth|captured|loss)(_|$)", re.IGNORECASE)
#: Fields whose names look like money but hold something else (what they hold).
NOT_MONEY = {
    ("billing", "Statement", "roaming_share"): "a percentage",
    ("billing", "BillingProfile", "commission_rate"): "a percentage",
    ("billing", "FeePlan", "payout_days"): "days after the period",
    ("billing", "Statement", "total_wh"): "energy in Wh",
}


def project_fields():
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS:
            for field in model._meta.concrete_fields:
                yield model, field


def test_no_model_field_is_a_float():
    floats = [f"{model.__name__}.{field.name}" for model, field in project_fields()
              if isinstance(field, models.FloatField)]
    assert floats == []


def test_money_fields_are_decimals_to_the_ore():
    checked, wrong = 0, []
    for model, field in project_fields():
        key = (model._meta.app_label, model.__name__, field.name)
        if not MONEY.search(field.name) or key in NOT_MONEY or isinstance(field, (models.ForeignKey,
                                                                                     models.CharField,
                                                                                     models.TextField,
                                                                                     models.BooleanField,
                                                                                     models.DateField,
                                                                                     models.JSONField)):
            continue
        checked += 1
        if isinstance(field, MoneyField):
            continue
        if not isinstance(field, models.DecimalField) or field.decimal_places < 2:
            wrong.append(f"{model.__name__}.{field.name}: {type(field).__name__}")
    assert wrong == []
    assert checked > 40  # the walk reaches the billing models' amounts, not an empty set


@pytest.mark.django_db
def test_the_api_never_sends_money_as_a_json_number():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    numbers, money_properties = [], 0

    def walk(node, path):
        nonlocal money_properties
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict):
                    if prop.get("type") == "number":
                        numbers.append(f"{path}.{name}")
                    if MONEY.search(name) and prop.get("type") == "string":
                        money_properties += 1
            for key, value in node.items():
                walk(value, f"{path}.{key}" if key != "properties" else path)
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(schema, "schema")
    assert numbers == []
    assert money_properties > 20
