"""Filter forms of the portal's reports and invoice lists: the month a 12-month report ends in, the session list's
filters (period, station, user, tag uid, status) and the invoice list's status and period. Choices are narrowed to
the portal's organization by the view."""

from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from charging.models import ChargingSession

_MONTH = {"input_formats": ["%Y-%m"], "widget": forms.DateInput(attrs={"type": "month"}, format="%Y-%m")}


class MonthRangeForm(forms.Form):
    """The last month of a 12-month report (default: this month)."""

    month = forms.DateField(label=_("Up to and including the month"), required=False, **_MONTH)

    def last_month(self) -> date:
        chosen = self.cleaned_data.get("month") if self.is_valid() else None
        today = timezone.localdate()
        return (chosen or today).replace(day=1)


class BenefitForm(forms.Form):
    first = forms.DateField(label=_("From month"), required=False, **_MONTH)
    last = forms.DateField(label=_("To month"), required=False, **_MONTH)

    def clean(self):
        data = super().clean()
        if data.get("first") and data.get("last") and data["first"] > data["last"]:
            raise forms.ValidationError(_("The first month must not be after the last."))
        return data


class SessionFilterForm(forms.Form):
    started_from = forms.DateField(label=_("Started from"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    started_to = forms.DateField(label=_("Started up to and including"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    station = forms.ModelChoiceField(label=_("Station"), queryset=None, required=False, empty_label=_("All"))
    user = forms.ModelChoiceField(label=_("User"), queryset=None, required=False, empty_label=_("All"))
    tag = forms.CharField(label=_("Tag uid"), required=False, max_length=36)
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All")), *ChargingSession.Status.choices])

    def __init__(self, *args, stations, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations
        self.fields["user"].queryset = users
        self.fields["user"].label_from_instance = lambda user: user.email or user.get_full_name()

    def clean(self):
        data = super().clean()
        if data.get("started_from") and data.get("started_to") and data["started_from"] > data["started_to"]:
            raise forms.ValidationError(_("The start of the period must not be after its end."))
        return data


class InvoiceFilterForm(forms.Form):
    PAID, UNPAID, REMINDED, BLOCKED = "paid", "unpaid", "reminded", "blocked"
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", _("All")), (PAID, _("Paid")), (UNPAID, _("Unpaid")), (REMINDED, _("Reminded")),
        (BLOCKED, _("Blocked (third reminder)"))])
    period = forms.DateField(label=_("Period (month)"), required=False, **_MONTH)
