"""Forms of the public QR charging pages: the guest's e-mail and voucher, and the rating on the receipt."""

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def _stars(n: int) -> str:
    return gettext("%(n)s of 5 stars") % {"n": n}


# Formatted when shown, in the reader's language (a lazy text formatted here would be frozen at import).
_stars_lazy = lazy(_stars, str)


class GuestStartForm(forms.Form):
    email = forms.EmailField(label=_("E-mail for the receipt"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    voucher_code = forms.CharField(label=_("Voucher code (optional)"), max_length=32, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "off",
                                                                  "autocapitalize": "characters"}))


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(label=_("Your rating"), coerce=int, widget=forms.RadioSelect,
                                   choices=[(n, _stars_lazy(n)) for n in range(1, 6)])
    comment = forms.CharField(label=_("Comment (optional)"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))
