"""The bad-input corpus for both OCPP versions (issue 13), against a real daphne server over real websockets.

Every case is a frame a broken or hostile charger could send. For each: the answer the specification asks for (a
CALLERROR with its error code, or silence where the spec has no answer — a CALLRESULT/CALLERROR nobody asked for, a
binary frame), then a valid Heartbeat on the same socket must still be answered (the connection keeps working), and
at the end nothing of the invalid input is stored (no session, no meter sample, no authorization record).

OCPP-J 1.6 §4.2.3 and OCPP-J 2.0.1 §4.3 name the error codes; 2.0.1 answers a frame it cannot read with
RpcFrameworkError and an unknown MessageTypeId with MessageTypeNotSupported, 1.6 has FormationViolation/ProtocolError
for both.
"""

import asyncio
import json
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from accounts.services.tokens import id_token_issue
from charging.models import AuthorizationAttempt, ChargingSession, MeterSample, OcppFrame
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import raw_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "secret-authorization-key-0123"
TS = "2026-11-20T18:00:00.000Z"
NO_ANSWER = None


@dataclass(frozen=True)
class Case:
    name: str
    frame: str | bytes
    error: str | None  # the CALLERROR's errorCode, or NO_ANSWER
    message_id: str = "c1"


def frame(*parts) -> str:
    return json.dumps(list(parts))


def meter_values_16(value, *, unit="Wh", connector=1, transaction=None, measurand="Energy.Active.Import.Register"):
    payload = {"connectorId": connector, "meterValue": [{"timestamp": TS, "sampledValue": [
        {"value": value, "unit": unit, "measurand": measurand}]}]}
    if transaction is not None:
        payload["transactionId"] = transaction
    return frame(2, "c1", "MeterValues", payload)


def common_cases(v201: bool) -> list[Case]:
    """What both versions refuse alike (error codes spelt per version)."""
    framework = "RpcFrameworkError" if v201 else "FormationViolation"
    fmt = "FormatViolation" if v201 else "FormationViolation"
    occurrence = "OccurrenceConstraintViolation" if v201 else "OccurenceConstraintViolation"
    return [
        Case("not JSON", "this is not json", framework, "-1"),
        Case("truncated JSON", '[2, "c1", "Heartbeat", {', framework, "-1"),
        Case("JSON object, not an array", '{"messageTypeId": 2}', framework, "-1"),
        Case("empty array", "[]", framework, "-1"),
        Case("array of one", "[2]", framework, "-1"),
        Case("message id a number", frame(2, 17, "Heartbeat", {}), framework, "-1"),
        Case("message id null", frame(2, None, "Heartbeat", {}), framework, "-1"),
        Case("deeply nested JSON", "[" * 30_000 + "]" * 30_000, framework, "-1"),
        Case("NaN literal", '[2, "c1", "Heartbeat", {"x": NaN}]', fmt),
        Case("unknown MessageTypeId", frame(7, "c1", "Heartbeat", {}),
             "MessageTypeNotSupported" if v201 else "ProtocolError"),
        Case("MessageTypeId a string", frame("2", "c1", "Heartbeat", {}),
             "MessageTypeNotSupported" if v201 else "ProtocolError"),
        Case("unknown action", frame(2, "c1", "FooBar", {}), "NotImplemented"),
        Case("action not a string", frame(2, "c1", 42, {}), fmt),
        Case("payload an array", frame(2, "c1", "Heartbeat", []), fmt),
        Case("payload missing", frame(2, "c1", "Heartbeat"), fmt),
        Case("extra array element", frame(2, "c1", "Heartbeat", {}, {}), fmt),
        Case("huge message id", frame(2, "x" * 5_000, "Heartbeat", {}), fmt, "x" * 36),
        Case("frame over the size limit", frame(2, "c1", "DataTransfer", {"vendorId": "x", "data": "x" * 70_000}),
             framework, "-1"),
        Case("required field missing", frame(2, "c1", "BootNotification", {}), occurrence),
        Case("CALLRESULT nobody asked for", frame(3, "never-sent", {"status": "Accepted"}), NO_ANSWER),
        Case("CALLERROR nobody asked for", frame(4, "never-sent", "GenericError", "", {}), NO_ANSWER),
        Case("malformed CALLRESULT", frame(3, "never-sent"), NO_ANSWER),
        Case("binary frame", b"\x00\x01\x02 binary", NO_ANSWER),
        Case("raw NUL after the JSON", frame(2, "c1", "Heartbeat", {}) + "\x00", framework, "-1"),
        Case("raw control characters inside a string", '[2, "c1", "Authorize", {"idTag": "04\x01\x02"}]',
             framework, "-1"),
    ]


CASES_16 = common_cases(v201=False) + [
    Case("extra field", frame(2, "c1", "BootNotification", {
        "chargePointVendor": "X", "chargePointModel": "Y", "colour": "red"}), "FormationViolation"),
    Case("wrong type: connector id a string", frame(2, "c1", "StatusNotification", {
        "connectorId": "one", "errorCode": "NoError", "status": "Available"}), "TypeConstraintViolation"),
    Case("wrong type: meterStart a float string", frame(2, "c1", "StartTransaction", {
        "connectorId": 1, "idTag": "04A23B1C", "meterStart": "12.5", "timestamp": TS}), "TypeConstraintViolation"),
    Case("enum value unknown", frame(2, "c1", "StatusNotification", {
        "connectorId": 1, "errorCode": "NoError", "status": "Exploded"}), "PropertyConstraintViolation"),
    Case("huge string over maxLength", frame(2, "c1", "Authorize", {"idTag": "A" * 10_000}),
         "PropertyConstraintViolation"),
    Case("string with NUL", frame(2, "c1", "Authorize", {"idTag": "04A2\u0000"}), "PropertyConstraintViolation"),
    Case("string with a lone surrogate", '[2, "c1", "Authorize", {"idTag": "04A2\\ud800"}]',
         "PropertyConstraintViolation"),
    Case("invalid timestamp text", frame(2, "c1", "StartTransaction", {
        "connectorId": 1, "idTag": "04A23B1C", "meterStart": 0, "timestamp": "yesterday"}),
         "PropertyConstraintViolation"),
    Case("impossible date", frame(2, "c1", "StartTransaction", {
        "connectorId": 1, "idTag": "04A23B1C", "meterStart": 0, "timestamp": "2026-13-45T25:61:00Z"}),
         "PropertyConstraintViolation"),
    Case("timestamp a number", frame(2, "c1", "StatusNotification", {
        "connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": 1763661600}),
         "TypeConstraintViolation"),
    Case("negative meterStart", frame(2, "c1", "StartTransaction", {
        "connectorId": 1, "idTag": "04A23B1C", "meterStart": -5, "timestamp": TS}), "PropertyConstraintViolation"),
    Case("meterStart over 64 bits", frame(2, "c1", "StartTransaction", {
        "connectorId": 1, "idTag": "04A23B1C", "meterStart": 2**70, "timestamp": TS}),
         "PropertyConstraintViolation"),
    Case("negative energy register", meter_values_16("-5000"), "PropertyConstraintViolation"),
    Case("energy register overflowing", meter_values_16("1e400"), "PropertyConstraintViolation"),
    Case("energy register not a number", meter_values_16("lots"), "PropertyConstraintViolation"),
    Case("energy register infinite", meter_values_16("Infinity"), "PropertyConstraintViolation"),
    Case("unknown connector in StartTransaction", frame(2, "c1", "StartTransaction", {
        "connectorId": 99, "idTag": "04A23B1C", "meterStart": 0, "timestamp": TS}), "PropertyConstraintViolation"),
    Case("unknown connector in MeterValues", meter_values_16("1000", connector=99), "PropertyConstraintViolation"),
    Case("connector id negative", frame(2, "c1", "StatusNotification", {
        "connectorId": -1, "errorCode": "NoError", "status": "Available"}), "PropertyConstraintViolation"),
]

CASES_201 = common_cases(v201=True) + [
    Case("extra field", frame(2, "c1", "Heartbeat", {"colour": "red"}), "FormatViolation"),
    Case("wrong type: evseId a string", frame(2, "c1", "StatusNotification", {
        "timestamp": TS, "connectorStatus": "Available", "evseId": "one", "connectorId": 1}),
         "TypeConstraintViolation"),
    Case("enum value unknown", frame(2, "c1", "StatusNotification", {
        "timestamp": TS, "connectorStatus": "Exploded", "evseId": 1, "connectorId": 1}),
         "PropertyConstraintViolation"),
    Case("huge string over maxLength", frame(2, "c1", "Authorize", {"idToken": {"idToken": "A" * 10_000,
                                                                                "type": "ISO14443"}}),
         "PropertyConstraintViolation"),
    Case("string with NUL", frame(2, "c1", "Authorize", {"idToken": {"idToken": "04A2\u0000", "type": "ISO14443"}}),
         "PropertyConstraintViolation"),
    Case("invalid timestamp", frame(2, "c1", "StatusNotification", {
        "timestamp": "tomorrow", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
         "PropertyConstraintViolation"),
    Case("unknown EVSE in StatusNotification", frame(2, "c1", "StatusNotification", {
        "timestamp": TS, "connectorStatus": "Available", "evseId": 99, "connectorId": 1}),
         "PropertyConstraintViolation"),
    Case("negative energy register", frame(2, "c1", "MeterValues", {"evseId": 1, "meterValue": [{
        "timestamp": TS, "sampledValue": [{"value": -5000, "measurand": "Energy.Active.Import.Register"}]}]}),
         "PropertyConstraintViolation"),
    Case("energy register overflowing", frame(2, "c1", "MeterValues", {"evseId": 1, "meterValue": [{
        "timestamp": TS, "sampledValue": [{"value": 1e300, "measurand": "Energy.Active.Import.Register",
                                           "unitOfMeasure": {"unit": "Wh", "multiplier": 9}}]}]}),
         "PropertyConstraintViolation"),
    Case("unknown EVSE in MeterValues", frame(2, "c1", "MeterValues", {"evseId": 99, "meterValue": [{
        "timestamp": TS, "sampledValue": [{"value": 1000, "measurand": "Energy.Active.Import.Register"}]}]}),
         "PropertyConstraintViolation"),
    Case("transaction event with an unknown EVSE", frame(2, "c1", "TransactionEvent", {
        "eventType": "Started", "timestamp": TS, "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-bad-evse"}, "evse": {"id": 99, "connectorId": 1},
        "idToken": {"idToken": "04A23B1C", "type": "ISO14443"}}), "PropertyConstraintViolation"),
]


@pytest.fixture
def station16(db):
    org = OrganizationFactory(name="BRF Korpus")
    station = charge_point_register(identity="CORPUS-16", organization=org, evses=2, auth_key=KEY,
                                    acting_user=None, reason="test")
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    return station


@pytest.fixture
def station201(station16):
    return charge_point_register(identity="CORPUS-201", organization=station16.organization, evses=2, auth_key=KEY,
                                 acting_user=None, reason="test")


def stored(station) -> dict:
    try:
        return {"sessions": ChargingSession.objects.filter(charge_point=station).count(),
                "samples": MeterSample.objects.filter(charge_point=station).count(),
                "authorizations": AuthorizationAttempt.objects.filter(charge_point=station).count(),
                "frames in": OcppFrame.objects.filter(charge_point=station, direction="in").count()}
    finally:
        connection.close()


async def stored_after_flush(station, frames: int) -> dict:
    """What is stored once the server's frame log has written ``frames`` incoming frames (or after 5 s)."""
    for _ in range(50):
        counts = await sync_to_async(stored, thread_sensitive=True)(station)
        if counts["frames in"] >= frames:
            break
        await asyncio.sleep(0.1)
    return counts


async def answer(socket, timeout: float):
    try:
        return json.loads(await asyncio.wait_for(socket.recv(), timeout))
    except TimeoutError:
        return NO_ANSWER


async def run_corpus(url: str, station, version: str, cases: list[Case]) -> list[str]:
    """Send every case on one connection; return what went wrong (empty: all as the spec says)."""
    problems = []
    async with raw_socket(url, station.identity, version=version, key=KEY) as socket:
        for number, case in enumerate(cases):
            await socket.send(case.frame)
            got = await answer(socket, 1.0 if case.error is NO_ANSWER else 10)
            if case.error is NO_ANSWER:
                if got is not NO_ANSWER:
                    problems.append(f"{case.name}: expected no answer, got {str(got)[:200]}")
            elif not (isinstance(got, list) and got[:1] == [4] and got[2:3] == [case.error]):
                problems.append(f"{case.name}: expected {case.error}, got {str(got)[:200]}")
            elif got[1] != case.message_id:
                problems.append(f"{case.name}: answered message id {str(got[1])[:40]!r}, not {case.message_id!r}")
            # The connection keeps working for the next valid frame.
            heartbeat = f"hb-{number}"
            await socket.send(frame(2, heartbeat, "Heartbeat", {}))
            alive = await answer(socket, 10)
            if not (isinstance(alive, list) and alive[:2] == [3, heartbeat]):
                problems.append(f"{case.name}: the next Heartbeat got {str(alive)[:200]}")
                break
    return problems


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_bad_frame_gets_the_spec_answer_and_the_connection_survives(csms_server, station16, station201,
                                                                                version):
    station, cases = (station16, CASES_16) if version == "1.6" else (station201, CASES_201)
    problems = await run_corpus(csms_server, station, version, cases)
    assert problems == [], "\n".join(problems)
    # Nothing invalid stored, yet every frame logged (a case and its Heartbeat each; frames over the size limit
    # are refused before they are read, so they are not).
    unread = sum(1 for case in cases if len(case.frame) > 65536 or isinstance(case.frame, bytes))
    counts = await stored_after_flush(station, 2 * len(cases) - unread)
    assert counts == {"sessions": 0, "samples": 0, "authorizations": 0, "frames in": 2 * len(cases) - unread}


async def test_a_meter_going_backwards_never_lowers_the_session_energy(csms_server, station16):
    """A reading below an earlier one of the same transaction (a meter reset, a bad sample) is acknowledged — a
    CALLERROR would only make the charger resend it — and kept as the meter's own statement, but the session's
    energy (what is billed) never drops."""
    from tests.conformance.clients import exchange

    def session_state():
        try:
            session = ChargingSession.objects.get(charge_point=station16)
            return session.energy_wh, sorted(int(v) for v in MeterSample.objects.filter(
                session=session).values_list("value", flat=True))
        finally:
            connection.close()

    async def state_after(count: int):
        for _ in range(50):
            energy, values = await sync_to_async(session_state, thread_sensitive=True)()
            if len(values) >= count:
                break
            await asyncio.sleep(0.1)
        return energy, values

    async with raw_socket(csms_server, station16.identity, key=KEY) as socket:
        started = await exchange(socket, [2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "04A23B1C", "meterStart": 1000, "timestamp": TS}])
        transaction = started[2]["transactionId"]
        for number, value in enumerate(["3000", "5000", "4000", "6000"]):
            sent = json.loads(meter_values_16(value, transaction=transaction))
            sent[1] = f"m{number}"
            sent[3]["meterValue"][0]["timestamp"] = f"2026-11-20T18:0{number + 1}:00.000Z"
            assert await exchange(socket, sent) == [3, f"m{number}", {}]
            if value == "4000":
                assert await state_after(3) == (4000, [3000, 4000, 5000])  # not 3000
    assert await state_after(4) == (5000, [3000, 4000, 5000, 6000])
