"""The signature recipe receivers copy: a round trip verifies; a changed body, another secret, an old or future
timestamp, or a malformed header do not."""

import hashlib
import hmac

import pytest

from webhooks import signing

SECRET = "whsec_test"
BODY = b'{"id":"1","type":"session.ended","data":{"energy_wh":12345}}'
NOW = 1_800_000_000


def test_the_header_is_the_documented_hmac_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, NOW, BODY) == f"v1={expected}"


def test_a_signature_round_trips():
    header = signing.sign(SECRET, NOW, BODY)
    assert signing.verify(SECRET, BODY, str(NOW), header, now=NOW + 10)


@pytest.mark.parametrize(("secret", "body", "timestamp", "now"), [
    ("whsec_other", BODY, NOW, NOW),                      # another secret
    (SECRET, BODY.replace(b"12345", b"12346"), NOW, NOW),  # tampered body
    (SECRET, BODY, NOW + 1, NOW),                        # the timestamp changed after signing
], ids=["wrong-secret", "tampered-body", "changed-timestamp"])
def test_anything_changed_fails(secret, body, timestamp, now):
    header = signing.sign(SECRET, NOW, BODY)
    assert not signing.verify(secret, body, str(timestamp), header, now=now)


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301], ids=["too-old", "from-the-future"])
def test_a_timestamp_outside_the_tolerance_fails(now):
    header = signing.sign(SECRET, NOW, BODY)
    assert signing.verify(SECRET, BODY, NOW, header, now=NOW + 300)
    assert not signing.verify(SECRET, BODY, NOW, header, now=now)


@pytest.mark.parametrize("header", ["", "v1=", "v0=" + "0" * 64, "garbage", "v1=zz"])
def test_malformed_headers_fail(header):
    assert not signing.verify(SECRET, BODY, NOW, header, now=NOW)


@pytest.mark.parametrize("timestamp", ["", "abc", None])
def test_malformed_timestamps_fail(timestamp):
    assert not signing.verify(SECRET, BODY, timestamp, signing.sign(SECRET, NOW, BODY), now=NOW)


def test_any_of_several_signatures_may_match_during_a_rotation():
    header = f"{signing.sign('whsec_old', NOW, BODY)}, {signing.sign(SECRET, NOW, BODY)}"
    assert signing.verify(SECRET, BODY, NOW, header, now=NOW)
    assert signing.verify("whsec_old", BODY, NOW, header, now=NOW)
    assert not signing.verify("whsec_third", BODY, NOW, header, now=NOW)
