"""Forms of signing in with a one-time code: the address to send it to, then the code."""

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.services import otp


class OtpRequestForm(forms.Form):
    address = forms.CharField(label=_("E-mail address or mobile number"), max_length=254,
                              widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))

    def clean_address(self) -> otp.Address:
        return otp.parse_address(self.cleaned_data["address"])


def _digits_error() -> str:
    # Formatted when shown, in the reader's language (a lazy text formatted here would be frozen at import).
    return gettext("The code is %(digits)d digits.") % {"digits": otp.CODE_DIGITS}


class OtpVerifyForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"), regex=rf"^\s*\d{{{otp.CODE_DIGITS}}}\s*$", max_length=otp.CODE_DIGITS + 4,
        error_messages={"invalid": lazy(_digits_error, str)()},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}))
