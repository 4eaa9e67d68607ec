"""Forms of the portal's "Groups & prices" pages: user groups, group prices (tariffs and when they apply) and the
monthly fees on residents' invoices."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from billing.models import Tariff
from charging.models import ChargePoint
from csms.portal.forms.people import reason_field


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class GroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    reason = reason_field()


class TariffForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("For example “Members 2,50 kr/kWh”."))
    energy_price = forms.DecimalField(label=_("Price per kWh incl. VAT"), min_value=Decimal(0), max_digits=12,
                                      decimal_places=5, required=False, initial=Decimal(0))
    session_fee = forms.DecimalField(label=_("Fee per charge incl. VAT"), min_value=Decimal(0), max_digits=10,
                                     decimal_places=2, required=False, initial=Decimal(0))
    free = forms.BooleanField(label=_("Free of charge"), required=False)
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in settings.CURRENCIES],
                                 initial=settings.DEFAULT_CURRENCY)
    reason = reason_field()

    def clean(self):
        data = super().clean()
        if not data.get("free") and data.get("energy_price") is None:
            self.add_error("energy_price", _("Give a price per kWh, or tick “Free of charge”."))
        return data

    def tariff_values(self) -> dict:
        data = self.cleaned_data
        price = data.get("energy_price") or Decimal(0)
        return {"energy_price_ac": price, "energy_price_dc": price,
                "session_fee": data.get("session_fee") or Decimal(0), "free": data["free"]}


class PriceForm(forms.Form):
    tariff = forms.ModelChoiceField(label=_("Price (tariff)"), queryset=Tariff.objects.none())
    charge_point = forms.ModelChoiceField(label=_("Station"), queryset=ChargePoint.objects.none(), required=False,
                                          empty_label=_("All stations"))
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput(),
                                 help_text=_("Today or a later date. A price increase of more than 7 % needs 30 days' "
                                             "notice."))
    reason = reason_field()

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tariff"].queryset = Tariff.objects.filter(organization=organization, is_active=True
                                                               ).order_by("name")
        self.fields["charge_point"].queryset = ChargePoint.objects.filter(
            organization=organization, decommissioned_at__isnull=True).order_by("display_name", "identity")


class EndForm(forms.Form):
    valid_until = forms.DateField(label=_("Ends on"), widget=DateInput(),
                                  help_text=_("From the start of this day the group pays the stations' ordinary "
                                              "price."))
    reason = reason_field()


class FeeForm(forms.Form):
    name = forms.CharField(label=_("Name on the invoice"), max_length=100)
    amount = forms.DecimalField(label=_("Amount per month incl. VAT"), min_value=Decimal(0), max_digits=10,
                                decimal_places=2)
    vat_rate = forms.DecimalField(label=_("VAT rate (%)"), max_digits=5, decimal_places=2, initial=Decimal(25),
                                  validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("99.99"))])
    reason = reason_field()


class FeeEndForm(forms.Form):
    reason = reason_field()
