"""The customer lookup's search box."""

from django import forms
from django.utils.translation import gettext_lazy as _


class CustomerSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), min_length=2, max_length=200, strip=True,
        widget=forms.TextInput(attrs={"size": 40, "autofocus": True}),
        help_text=_("Mobile number (070-123 45 67, +46701234567, 0046…), e-mail address, name, tag uid (with or "
                    "without separators) or the number printed on the tag."))
