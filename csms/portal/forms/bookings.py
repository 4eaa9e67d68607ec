"""Forms of the portal's booking pages: a resident's booking, a cancellation, a tag block, the month filter of
the resident's sessions and the board's booking rules."""

from django import forms
from django.utils.translation import gettext_lazy as _

from charging.models import BookingPolicy
from charging.services.bookings import POLICY_FIELDS


class MonthForm(forms.Form):
    month = forms.DateField(label=_("Month"), required=False, input_formats=["%Y-%m"],
                            widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"))


class BookingForm(forms.Form):
    evse = forms.ModelChoiceField(label=_("Charging point"), queryset=None, empty_label=None)
    starts_at = forms.DateTimeField(label=_("Starts"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                    widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                               format="%Y-%m-%dT%H:%M"))
    ends_at = forms.DateTimeField(label=_("Ends"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                             format="%Y-%m-%dT%H:%M"))

    def __init__(self, *args, evses, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evse"].queryset = evses


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), max_length=500, required=False)


class TagBlockForm(forms.Form):
    reason = forms.CharField(label=_("Why block the tag?"), max_length=500,
                             help_text=_("For example: lost or stolen."))


class PolicyForm(forms.ModelForm):
    reason = forms.CharField(label=_("Reason for the change"), max_length=500)

    class Meta:
        model = BookingPolicy
        fields = list(POLICY_FIELDS)
