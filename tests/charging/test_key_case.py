"""The gateway's remembered key conversions give exactly what the ocpp library's camel/snake functions give."""

from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

from charging.ocpp.gateway import camel_case, snake_case

SPEC_KEYS = ["connectorId", "meterValue", "sampledValue", "transactionId", "idTagInfo", "ocppCSMSURL",
             "evseId", "chargingLimitSource", "V2XChargingParameters", "maxV2GCurrent", "customData", "vendorId",
             "SOCLimitReached", "stateOfCharge", "responderURL", "CSMSRootCertificate"]
keys = st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=12))
payloads = st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=5)),
                        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
                        max_leaves=12)


@given(payloads)
def test_snake_case_is_the_librarys(payload):
    assert snake_case(payload) == camel_to_snake_case(payload)


@given(payloads)
def test_camel_case_is_the_librarys(payload):
    snake = camel_to_snake_case(payload)
    assert camel_case(snake) == snake_to_camel_case(snake)
