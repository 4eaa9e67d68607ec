"""What both OCPP versions share on top of the `ocpp` library: framing, spec-correct errors, fast validation,
the frame log, coalesced last-seen writes and raw outbound calls.

The library's ChargePoint routes incoming CALLs to the ``@on`` handlers. We replace its ``route_message`` because
it differs from the specifications in ways chargers notice: it answers an unknown action with NotSupported
(the spec says NotImplemented), uses 2.0.1 error spellings on 1.6, stays silent on unparseable frames (2.0.1 wants
RpcFrameworkError) and validates with the slow jsonschema Draft4 validator.
"""

import asyncio
import functools
import inspect
import json
import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, CallResult, MessageType
from ocpp.messages import CallError as LibCallError

from charging.models import ChargePoint
from charging.ocpp import validation
from charging.ocpp.batching import on_database_thread, seen_tracker
from charging.ocpp.errors import CallError, ErrorKind
from charging.ocpp.frames import frame_log
from charging.services.sessions import evse_pks_by_number
from csms.observability import metrics

logger = logging.getLogger("csms.ocpp")
#: OCPP-J: "a maximum of 36 characters, to allow for GUIDs".
MAX_MESSAGE_ID = 36


# Other apps that react to what chargers report (load balancing) register here: each listener is called after a
# charger's CALL was answered, with the station, the OCPP version, the action and its payload, and after a charger
# connected (action "Connected", empty payload). A listener must return quickly: it may schedule work on the event
# loop (asyncio tasks) but must not wait for the database or a charger. Its errors are logged, never sent.
_message_listeners: list = []


def register_message_listener(listener) -> None:
    """Add ``listener(station, version, action, payload)`` (see above); registering twice adds it once."""
    if listener not in _message_listeners:
        _message_listeners.append(listener)


def notify_listeners(station: ChargePoint, version: str, action: str, payload: dict) -> None:
    for listener in _message_listeners:
        try:
            listener(station, version, action, payload)
        except Exception:
            logger.exception("%s: listener %r failed on %s", station.identity, listener, action)


def database(func):
    """Run an ORM-using function on Django's database thread (batching.on_database_thread)."""
    return on_database_thread(func)


def parse_timestamp(value, *, field: str = "timestamp") -> datetime:
    """An OCPP date-time as an aware datetime. Chargers that omit the zone mean UTC (a common quirk)."""
    if not isinstance(value, str):
        raise CallError(ErrorKind.TYPE, f"{field} must be a date-time string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError as exc:
        raise CallError(ErrorKind.PROPERTY, f"{field} '{value[:40]}' is not an RFC 3339 date-time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC with milliseconds and a Z: 2026-11-22T19:12:17.951Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class OutboundResult:
    """What the charger answered to one of our calls."""

    def __init__(self, *, payload: dict | None = None, error_code: str = "", error_description: str = "",
                 error_details: dict | None = None):
        self.payload = payload
        self.error_code = error_code
        self.error_description = error_description
        self.error_details = error_details or {}

    @property
    def ok(self) -> bool:
        return not self.error_code


class GatewayMixin:
    """Mixed into ``ocpp.v16.ChargePoint`` and ``ocpp.v201.ChargePoint``. ``self.station`` is the ChargePoint row."""

    _ocpp_version: str
    station: ChargePoint

    def setup_gateway(self, station: ChargePoint) -> None:
        self.station = station
        self._last_seen_write = 0.0
        self._evse_pks: dict[int, int] | None = None

    async def evse_pk(self, number: int | None) -> int | None:
        """The primary key of this station's EVSE ``number`` (loaded once per connection), None if unknown."""
        if not number:
            return None
        if self._evse_pks is None or number not in self._evse_pks:
            self._evse_pks = await database(evse_pks_by_number)(charge_point_id=self.station.pk)
        return self._evse_pks.get(number)

    # --- incoming ---------------------------------------------------------------------------------------------
    async def route_message(self, raw_msg):
        self._note_seen()
        metrics.OCPP_FRAMES.inc(direction="in")
        try:
            message = json.loads(raw_msg)
        except (ValueError, TypeError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            frame_log.add(self.station, "in", raw_msg, (None, "", ""))
            await self._reply_framework_error("-1", "Message is not valid JSON")
            return
        if not isinstance(message, list) or len(message) < 2 or not isinstance(message[1], str):
            frame_log.add(self.station, "in", raw_msg)
            await self._reply_framework_error("-1", "A message is [MessageTypeId, MessageId, ...]")
            return
        type_id, message_id = message[0], message[1]
        if type_id in (MessageType.CallResult, MessageType.CallError) and len(message) < 3:
            # Never answer an answer (the charger would answer our error in turn): log and drop.
            frame_log.add(self.station, "in", raw_msg, (type_id, message_id[:64], ""))
            logger.warning("%s: malformed answer dropped: %s", self.station.identity, raw_msg[:200])
            return
        if len(message) < 3:
            frame_log.add(self.station, "in", raw_msg)
            await self._reply_framework_error("-1", "A message is [MessageTypeId, MessageId, ...]")
            return
        action = message[2] if type_id == MessageType.Call and isinstance(message[2], str) else ""
        frame_log.add(self.station, "in", raw_msg, (type_id if isinstance(type_id, int) else None, message_id[:64],
                                                    action[:50]))
        if type_id == MessageType.Call:
            await self._handle_incoming_call(message)
        elif type_id == MessageType.CallResult:
            if len(message) == 3:
                self._response_queue.put_nowait(CallResult(message_id, message[2]))
            else:
                # Errors only ever answer requests: a broken answer is logged and dropped.
                logger.warning("%s: malformed CALLRESULT dropped: %s", self.station.identity, raw_msg[:200])
        elif type_id == MessageType.CallError:
            if len(message) >= 4:
                details = message[4] if len(message) > 4 else {}
                self._response_queue.put_nowait(LibCallError(message_id, message[2], message[3], details))
            else:
                logger.warning("%s: malformed CALLERROR dropped: %s", self.station.identity, raw_msg[:200])
        else:
            await self._send_error(message_id, CallError(
                ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, f"MessageTypeId {type_id!r} is not supported"))

    async def _handle_incoming_call(self, message: list) -> None:
        message_id = message[1]
        if len(message_id) > MAX_MESSAGE_ID:
            await self._send_error(message_id[:MAX_MESSAGE_ID], CallError(
                ErrorKind.FORMAT, f"A MessageId has at most {MAX_MESSAGE_ID} characters"))
            return
        if len(message) != 4 or not isinstance(message[2], str) or not isinstance(message[3], dict):
            await self._send_error(message_id, CallError(
                ErrorKind.FORMAT, "A CALL is [2, MessageId, Action, {payload}]"))
            return
        action, payload = message[2], message[3]
        handlers = self.route_map.get(action)
        if handlers is None or "_on_action" not in handlers:
            kind = ErrorKind.NOT_SUPPORTED if validation.known_action(self._ocpp_version, action) else (
                ErrorKind.NOT_IMPLEMENTED)
            await self._send_error(message_id, CallError(kind, f"Action {action} is not handled"))
            return
        arguments = _handler_arguments(payload)
        try:
            validation.validate(self._ocpp_version, action, payload)
            response = handlers["_on_action"](**arguments)
            if inspect.isawaitable(response):
                response = await response
            answer = camel_case(remove_nones(serialize_as_dict(response)))
            if settings.OCPP_VALIDATE_RESPONSES:
                validation.validate(self._ocpp_version, action, answer, response=True)
        except CallError as error:
            metrics.OCPP_CALLS.inc(action=action, outcome="refused")
            await self._send_error(message_id, error)
            return
        except Exception:
            metrics.OCPP_CALLS.inc(action=action, outcome="failed")
            logger.exception("%s: handler for %s failed", self.station.identity, action)
            await self._send_error(message_id, CallError(ErrorKind.INTERNAL, "The CSMS could not process this"))
            return
        await self._send(json.dumps([MessageType.CallResult, message_id, answer], separators=(",", ":")),
                         (MessageType.CallResult, message_id[:64], ""))
        metrics.OCPP_CALLS.inc(action=action, outcome="answered")
        notify_listeners(self.station, self._ocpp_version, action, payload)
        after = handlers.get("_after_action")
        if after is not None:
            result = after(**arguments)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                task.add_done_callback(_log_task_failure)

    async def _reply_framework_error(self, message_id: str, description: str) -> None:
        logger.warning("%s: unparseable frame: %s", self.station.identity, description)
        await self._send_error(message_id, CallError(ErrorKind.RPC_FRAMEWORK, description))

    async def _send_error(self, message_id: str, error: CallError) -> None:
        error.for_version(self._ocpp_version)
        if error.kind not in (ErrorKind.RPC_FRAMEWORK, ErrorKind.INTERNAL):  # already logged where they arose
            logger.warning("%s: message %s refused with %s: %s", self.station.identity, str(message_id)[:40],
                           error.code, error.description[:200])
        frame = [MessageType.CallError, message_id, error.code, error.description, error.details or {}]
        await self._send(json.dumps(frame, separators=(",", ":"), default=str),
                         (MessageType.CallError, str(message_id)[:64], ""))

    async def _send(self, message: str, described: tuple | None = None) -> None:
        metrics.OCPP_FRAMES.inc(direction="out")
        frame_log.add(self.station, "out", message, described)
        await self._connection.send(message)

    def _note_seen(self) -> None:
        # Every frame proves the charger is alive, but writing that on each one would put a DB write on the hot
        # path; once per OCPP_SEEN_WRITE_INTERVAL is enough for a 2 × heartbeat offline rule.
        now = time.monotonic()
        if now - self._last_seen_write >= settings.OCPP_SEEN_WRITE_INTERVAL:
            self._last_seen_write = now
            seen_tracker.mark(self.station.pk)

    # --- outgoing ---------------------------------------------------------------------------------------------
    async def call_raw(self, action: str, payload: dict, timeout: float) -> OutboundResult:
        """Send a CALL built from a wire-format payload and wait for the answer (or raise asyncio.TimeoutError)."""
        validation.validate(self._ocpp_version, action, payload)
        call = Call(unique_id=str(self._unique_id_generator()), action=action, payload=payload)
        async with self._call_lock:
            await self._send(call.to_json(), (MessageType.Call, call.unique_id, action))
            response = await self._get_specific_response(call.unique_id, timeout)
        if response.message_type_id == MessageType.CallError:
            return OutboundResult(error_code=response.error_code, error_description=response.error_description,
                                  error_details=response.error_details)
        return OutboundResult(payload=response.payload)


# Free-form vendor content is passed on exactly as the charger sent it, not with its keys renamed.
_VERBATIM_FIELDS = {"data": "data", "customData": "custom_data"}


@functools.lru_cache(maxsize=4096)
def _snake_key(key: str) -> str:
    """The ocpp library's camelCase → snake_case rule (two regular expressions), remembered per key: a busy server
    converts the same few hundred keys thousands of times a second. Bounded, as chargers may send any key."""
    return next(iter(camel_to_snake_case({key: None})))


@functools.lru_cache(maxsize=4096)
def _camel_key(key: str) -> str:
    return next(iter(snake_to_camel_case({key: None})))


def _rename_keys(data, rename):
    if isinstance(data, dict):
        return {rename(key): _rename_keys(value, rename) for key, value in data.items()}
    if isinstance(data, list):
        return [_rename_keys(value, rename) for value in data]
    return data


def snake_case(data):
    """camel_to_snake_case of the ocpp library, with its key rule remembered."""
    return _rename_keys(data, _snake_key)


def camel_case(data):
    """snake_to_camel_case of the ocpp library, with its key rule remembered."""
    return _rename_keys(data, _camel_key)


def _handler_arguments(payload: dict) -> dict:
    arguments = snake_case(payload)
    for wire_name, argument in _VERBATIM_FIELDS.items():
        if wire_name in payload:
            arguments[argument] = payload[wire_name]
    return arguments


def _log_task_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("OCPP follow-up task failed", exc_info=task.exception())
