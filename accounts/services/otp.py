"""One-time sign-in codes sent by e-mail or SMS (the portal's "Sign in with a code"; a BankID adapter can later take
the same place). Codes live only in Django's cache, under keys and values that are HMACs of the address and the code:
six digits, valid ten minutes, five attempts, one use, at most ``MAX_SENDS`` per address in ten minutes. Whether an
address belongs to an account never shows in the answer, so nobody can probe for accounts with it."""

import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db.models import Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts import identifiers, sms
from accounts.services import audit

logger = logging.getLogger("csms.accounts.otp")

CODE_DIGITS = 6
VALID_SECONDS = 10 * 60
MAX_ATTEMPTS = 5
MAX_SENDS = 3
THROTTLE_SECONDS = 10 * 60
_SALT = "accounts.services.otp"


class OtpThrottled(Exception):
    """Too many codes were asked for this address lately."""


@dataclass(frozen=True)
class Address:
    """A normalised e-mail address (lower case) or mobile number (E.164)."""

    value: str
    is_email: bool


def parse_address(raw: str) -> Address:
    """The address typed into the form, or ValidationError when it is neither an e-mail nor a mobile number."""
    text = (raw or "").strip()
    if "@" in text:
        validate_email(text)
        return Address(text.lower(), True)
    try:
        return Address(identifiers.normalize_mobile_number(text, settings.PHONE_DEFAULT_REGION), False)
    except ValueError:
        raise ValidationError(_("Enter an e-mail address or a mobile number."), code="invalid") from None


def _digest(*parts: str) -> str:
    return salted_hmac(_SALT, "\x00".join(parts), algorithm="sha256").hexdigest()


def _code_key(address: Address) -> str:
    return f"otp:code:{_digest('code', address.value)}"


def _throttle_key(address: Address) -> str:
    return f"otp:sends:{_digest('sends', address.value)}"


def _user_for(address: Address):
    users = get_user_model().objects.filter(is_active=True)
    match = Q(email__iexact=address.value) if address.is_email else Q(mobile_number=address.value)
    return users.filter(match).first()


def otp_request(*, address: Address) -> None:
    """Send a fresh code to ``address`` when it belongs to an active account (a new code replaces the old one).

    Throttling counts every request for the address, known or not, so the answers stay alike; raises OtpThrottled
    after ``MAX_SENDS`` within ``THROTTLE_SECONDS``."""
    throttle_key = _throttle_key(address)
    cache.add(throttle_key, 0, THROTTLE_SECONDS)
    try:
        sends = cache.incr(throttle_key)
    except ValueError:  # expired between add and incr
        cache.set(throttle_key, 1, THROTTLE_SECONDS)
        sends = 1
    if sends > MAX_SENDS:
        raise OtpThrottled
    user = _user_for(address)
    if user is None:
        return
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    entry = {"code": _digest("value", address.value, code), "user": user.pk, "attempts": 0,
             "expires": time.time() + VALID_SECONDS}
    cache.set(_code_key(address), entry, VALID_SECONDS)
    message = _("Your sign-in code is %(code)s. It is valid for %(minutes)d minutes. If you did not ask for it, "
                "ignore this message.") % {"code": code, "minutes": VALID_SECONDS // 60}
    if address.is_email:
        send_mail(_("Your sign-in code"), message, None, [user.email])
    else:
        sms.send(to=user.mobile_number, body=message)


def otp_verify(*, address: Address, code: str):
    """The account ``code`` signs in, or None (unknown address, no code, wrong, expired, used or out of attempts).

    A wrong code uses up one of ``MAX_ATTEMPTS``; the last one ends the code. A right code is gone once used."""
    key = _code_key(address)
    entry = cache.get(key)
    left = entry["expires"] - time.time() if entry else 0
    if left <= 0:  # the cache entry's own timeout is a backstop; the stored expiry is the rule
        cache.delete(key)
        return None
    if not hmac.compare_digest(entry["code"], _digest("value", address.value, (code or "").strip())):
        attempts = entry["attempts"] + 1
        if attempts >= MAX_ATTEMPTS:
            cache.delete(key)
        else:
            cache.set(key, {**entry, "attempts": attempts}, max(1, int(left) + 1))
        return None
    cache.delete(key)
    user = get_user_model().objects.filter(pk=entry["user"], is_active=True).first()
    if user is not None:
        audit.record(action="user.signed_in_with_code", target=user, acting_user=user,
                     reason=_("Signed in with a one-time code"), changes={})
    return user

