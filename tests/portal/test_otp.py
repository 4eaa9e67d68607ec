"""Signing in to the portal with a one-time code by e-mail or SMS (accounts.services.otp, csms.portal.views.otp)."""

import re
import time
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from accounts.models import AuditLogEntry
from accounts.services import otp

REQUEST = reverse("portal:otp_request")
VERIFY = reverse("portal:otp_verify")


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "portal-otp-tests"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def resident(brf_a):
    user = brf_a.residents[0]
    user.email = "Anna.Andersson@Example.com"
    user.mobile_number = "+46701740700"
    user.save(update_fields=["email", "mobile_number"])
    return user


def _code(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def _signed_in_as(client):
    return client.session.get("_auth_user_id")


def test_code_by_email_signs_in(client, resident):
    response = client.post(REQUEST, {"address": " anna.andersson@example.com "})
    assert response.status_code == 302
    assert response.url == VERIFY
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["Anna.Andersson@Example.com"]
    code = _code(mail.outbox[0].body)
    assert client.get(VERIFY).status_code == 200
    response = client.post(VERIFY, {"code": code})
    assert response.status_code == 302
    assert response.url == reverse("portal:home")
    assert _signed_in_as(client) == str(resident.pk)
    assert AuditLogEntry.objects.filter(action="user.signed_in_with_code", actor=resident).count() == 1
    assert client.get(reverse("portal:home")).url == reverse("portal:my_sessions")


def test_code_by_sms_signs_in(client, resident, sms_outbox):
    client.post(REQUEST, {"address": "070-174 07 00"})
    assert mail.outbox == []
    assert len(sms_outbox) == 1
    assert sms_outbox[0].to == "+46701740700"
    response = client.post(VERIFY, {"code": _code(sms_outbox[0].body)})
    assert response.status_code == 302
    assert _signed_in_as(client) == str(resident.pk)


def test_the_code_is_stored_hashed(client, resident, sms_outbox):
    client.post(REQUEST, {"address": "+46701740700"})
    code = _code(sms_outbox[0].body)
    stored = [repr(value) for value in cache._cache.values()]
    assert stored
    assert not any(code in value or "+46701740700" in value for value in stored)
    assert not any("+46701740700" in key or code in key for key in cache._cache)


def test_wrong_code_counts_attempts_and_the_fifth_ends_the_code(client, resident, sms_outbox):
    client.post(REQUEST, {"address": "+46701740700"})
    code = _code(sms_outbox[0].body)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(otp.MAX_ATTEMPTS):
        response = client.post(VERIFY, {"code": wrong})
        assert response.status_code == 200
        assert "The code is wrong or no longer valid" in response.content.decode()
        assert _signed_in_as(client) is None
        if attempt < otp.MAX_ATTEMPTS - 1:
            assert cache.get(otp._code_key(otp.Address("+46701740700", False)))["attempts"] == attempt + 1
    client.post(VERIFY, {"code": code})  # right, but too late
    assert _signed_in_as(client) is None


def test_four_wrong_then_right_signs_in(client, resident, sms_outbox):
    client.post(REQUEST, {"address": "+46701740700"})
    code = _code(sms_outbox[0].body)
    for _ in range(otp.MAX_ATTEMPTS - 1):
        client.post(VERIFY, {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
    client.post(VERIFY, {"code": code})
    assert _signed_in_as(client) == str(resident.pk)


def test_used_code_is_refused(client, resident):
    client.post(REQUEST, {"address": "anna.andersson@example.com"})
    code = _code(mail.outbox[0].body)
    client.post(VERIFY, {"code": code})
    assert _signed_in_as(client) == str(resident.pk)
    address = otp.Address("anna.andersson@example.com", True)
    assert otp.otp_verify(address=address, code=code) is None


def test_expired_code_is_refused(client, resident, monkeypatch):
    client.post(REQUEST, {"address": "anna.andersson@example.com"})
    code = _code(mail.outbox[0].body)
    later = time.time() + otp.VALID_SECONDS + 1
    monkeypatch.setattr(otp, "time", SimpleNamespace(time=lambda: later))
    response = client.post(VERIFY, {"code": code})
    assert response.status_code == 200
    assert _signed_in_as(client) is None


def _page(response, address: str) -> str:
    """The page without what differs by design: the address typed and the CSRF token."""
    text = response.content.decode().replace(address, "ADDRESS")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)


def test_unknown_address_gets_the_same_answer(client, resident):
    known = client.post(REQUEST, {"address": "anna.andersson@example.com"}, follow=True)
    other = client.__class__()
    unknown = other.post(REQUEST, {"address": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain == [(VERIFY, 302)]
    assert _page(known, "anna.andersson@example.com") == _page(unknown, "nobody@example.com")
    assert len(mail.outbox) == 1
    response = other.post(VERIFY, {"code": "123456"})
    assert response.status_code == 200
    assert _signed_in_as(other) is None


def test_requests_are_throttled_per_address_known_or_not(client, resident):
    for address in ("anna.andersson@example.com", "nobody@example.com"):
        for _ in range(otp.MAX_SENDS):
            assert client.post(REQUEST, {"address": address}).status_code == 302
        response = client.post(REQUEST, {"address": address.upper()})
        assert response.status_code == 200
        assert "Too many codes" in response.content.decode()
    assert len(mail.outbox) == otp.MAX_SENDS
    assert client.post(REQUEST, {"address": "+46701740700"}).status_code == 302  # another address is not held


def test_form_errors(client, resident):
    response = client.post(REQUEST, {"address": "not an address"})
    assert response.status_code == 200
    assert "Enter an e-mail address or a mobile number" in response.content.decode()
    assert client.get(VERIFY).url == REQUEST  # nothing asked for yet
    client.post(REQUEST, {"address": "anna.andersson@example.com"})
    response = client.post(VERIFY, {"code": "12ab"})
    assert "The code is 6 digits" in response.content.decode()


def test_inactive_account_gets_no_code(client, resident):
    resident.is_active = False
    resident.save(update_fields=["is_active"])
    assert client.post(REQUEST, {"address": "anna.andersson@example.com"}).status_code == 302
    assert mail.outbox == []


def test_login_page_links_to_code_sign_in(client):
    assert REQUEST in client.get(reverse("portal:login")).content.decode()
