"""The OCPP frame log, written in batches so logging every frame costs no DB round trip per message."""

import asyncio
import contextvars
import json
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from charging.models import ChargePoint, OcppFrame
from charging.ocpp.batching import on_database_thread

logger = logging.getLogger("csms.ocpp")
FLUSH_AT_FRAMES = 500


def _describe(raw: str) -> tuple[int | None, str, str]:
    """Message type, id and action of a frame, as far as it can be read."""
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return None, "", ""
    if not isinstance(message, list) or len(message) < 2:
        return None, "", ""
    type_id = message[0] if isinstance(message[0], int) else None
    action = message[2] if type_id == 2 and len(message) > 2 and isinstance(message[2], str) else ""
    return type_id, str(message[1])[:64], action[:50]


#: Settings whose value is the charger's password (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword).
SECRET_NAMES = {"AuthorizationKey", "BasicAuthPassword"}
MASK = "********"


def masked(payload: dict) -> dict:
    """A ChangeConfiguration / SetVariables payload with every password value replaced by MASK (for storing)."""
    if payload.get("key") in SECRET_NAMES:
        payload = {**payload, "value": MASK}
    if "setVariableData" in payload:
        payload = {**payload, "setVariableData": [
            {**item, "attributeValue": MASK} if (item.get("variable") or {}).get("name") in SECRET_NAMES else item
            for item in payload["setVariableData"]]}
    return payload


def _masked_secrets(raw: str) -> str:
    """The frame with any password value masked, or as it was when it cannot be read."""
    try:
        message = json.loads(raw)
        message[3] = masked(message[3])
    except (ValueError, TypeError, IndexError, AttributeError):
        return raw
    return json.dumps(message, separators=(",", ":"))


class FrameLog:
    """Buffers frames in memory and bulk-inserts them from a background task of the event loop."""

    def __init__(self):
        self._pending: list[tuple] = []  # rows in COLUMNS order
        self._flusher: asyncio.Task | None = None

    def add(self, station: ChargePoint, direction: str, raw: str, described: tuple | None = None) -> None:
        """``described``: (message type, message id, action) when the caller has already read them."""
        if not settings.OCPP_FRAME_LOG:
            return
        type_id, message_id, action = described or _describe(raw)
        if "\x00" in raw:  # PostgreSQL text cannot hold NUL, and one such frame would lose its whole batch
            raw = raw.replace("\x00", "\\u0000")
        if action in ("ChangeConfiguration", "SetVariables") and direction == "out":
            raw = _masked_secrets(raw)
        self._pending.append((station.pk, station.identity, direction, type_id, message_id, action, raw,
                              timezone.now()))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon(),
                                                                   context=contextvars.Context())

    async def _flush_soon(self) -> None:
        # Frames added while a batch is being written find this task still running and start none of their
        # own: keep going until nothing is pending, or they would wait in memory for the next frame.
        while self._pending:
            deadline = asyncio.get_running_loop().time() + settings.OCPP_BATCH_FLUSH_SECONDS
            while self._pending and len(self._pending) < FLUSH_AT_FRAMES \
                    and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            try:
                await on_database_thread(_store)(batch)
            except Exception:
                logger.exception("Could not store %d OCPP frames", len(batch))


#: The frame log's columns, in the order FrameLog keeps its rows.
COLUMNS = ("charge_point_id", "identity", "direction", "message_type", "message_id", "action", "raw", "at")


def _insert(rows: list[tuple]) -> None:
    """Write rows: PostgreSQL's COPY (the cheapest way in; this runs for every frame in and out), else the ORM."""
    if connection.vendor == "postgresql":
        statement = f"COPY {OcppFrame._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        OcppFrame.objects.bulk_create([OcppFrame(**dict(zip(COLUMNS, row, strict=True))) for row in rows],
                                      batch_size=500)


def _store(batch: list[tuple]) -> None:
    try:
        with transaction.atomic():
            _insert(batch)
    except IntegrityError:
        # A charge point deleted while its frames waited: keep everyone else's frames.
        alive = set(ChargePoint.objects.filter(pk__in={row[0] for row in batch}).values_list("pk", flat=True))
        with transaction.atomic():
            _insert([row for row in batch if row[0] in alive])


frame_log = FrameLog()
