"""Logs as one JSON object per line (LOG_FORMAT=json) carrying the request id and the charge point they belong to,
so that a request or a charger can be followed across the proxy, the server processes and the workers.

The request id comes from the proxy's X-Request-ID header (nginx ``$request_id``) or is made here, and is sent back
in the answer; the charge point is set by the OCPP consumer for everything its connection does.
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

from csms.observability import metrics

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
charge_point: contextvars.ContextVar[str] = contextvars.ContextVar("charge_point", default="")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ContextFilter(logging.Filter):
    """Puts the request id and charge point of the current context on every record (also for the plain format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.charge_point = charge_point.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "process": record.process,
        }
        for field in ("request_id", "charge_point"):
            value = getattr(record, field, "")
            if value:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _begin(request) -> contextvars.Token:
    given = request.headers.get("X-Request-ID", "")
    return request_id.set(given if _REQUEST_ID.match(given) else uuid.uuid4().hex)


def _end(response) -> None:
    response.setdefault("X-Request-ID", request_id.get())  # OCPI's transport sets its own (the same when given)
    metrics.HTTP_REQUESTS.inc(status=f"{response.status_code // 100}xx")


@sync_and_async_middleware
def request_id_middleware(get_response):
    """Takes the request id from X-Request-ID (when it looks like one) or makes one, for the logs and the answer;
    counts requests by status class for the metrics. Sync and async, so it never makes Django switch modes."""
    if iscoroutinefunction(get_response):
        async def middleware(request):
            token = _begin(request)
            try:
                response = await get_response(request)
                _end(response)
                return response
            finally:
                request_id.reset(token)
    else:
        def middleware(request):
            token = _begin(request)
            try:
                response = get_response(request)
                _end(response)
                return response
            finally:
                request_id.reset(token)
    return middleware
