"""Signing in with a one-time code sent by e-mail or SMS: ask for a code, then enter it. The answers never say
whether an address has an account (accounts.services.otp holds the rules)."""

from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.services import otp
from csms.portal.forms.otp import OtpRequestForm, OtpVerifyForm

SESSION_KEY = "portal_otp_address"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def otp_request(request):
    form = OtpRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = form.cleaned_data["address"]
        try:
            otp.otp_request(address=address)
        except otp.OtpThrottled:
            form.add_error(None, _("Too many codes were asked for this address. Wait %(minutes)d minutes and try "
                                   "again.") % {"minutes": otp.THROTTLE_SECONDS // 60})
        else:
            request.session[SESSION_KEY] = [address.value, address.is_email]
            messages.info(request, _("If %(address)s belongs to an account, a code is on its way. It is valid for "
                                     "%(minutes)d minutes.") % {"address": address.value,
                                                                "minutes": otp.VALID_SECONDS // 60})
            return redirect("portal:otp_verify")
    return render(request, "portal/auth/otp_request.html", {"form": form})


def otp_verify(request):
    stored = request.session.get(SESSION_KEY)
    if not stored:
        return redirect("portal:otp_request")
    address = otp.Address(value=stored[0], is_email=stored[1])
    form = OtpVerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = otp.otp_verify(address=address, code=form.cleaned_data["code"])
        if user is not None:
            request.session.pop(SESSION_KEY, None)
            login(request, user, backend=BACKEND)
            return redirect("portal:home")
        form.add_error("code", _("The code is wrong or no longer valid. Check it, or ask for a new code."))
    return render(request, "portal/auth/otp_verify.html", {"form": form, "address": address.value})
