"""Streamed downloads for the Connect API exports: CSV (csv.writer over a small buffer, UTF-8, a header row) and
JSON arrays written element by element, so an export of a million rows never holds more than one chunk.

Values are written as the API writes them elsewhere: Decimals as plain strings ("23.75"), datetimes and dates in
ISO 8601, None as an empty CSV cell / JSON null. Under ASGI the generator is fed through an async iterator (one
hop to the worker thread per chunk); a plain synchronous iterator would make Django read the whole export into a
list before sending anything.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

#: Flush the buffer once it holds this many characters (a chunk of the response).
CHUNK_CHARS = 64 * 1024


def cell(value) -> str | int:
    """One value as the exports write it."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """The CSV document in UTF-8 chunks of about CHUNK_CHARS: the header row first, then every row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _json_default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_array_chunks(objects: Iterable[dict]) -> Iterator[bytes]:
    """A JSON array of ``objects``, written one element at a time and sent in chunks of about CHUNK_CHARS."""
    parts: list[str] = ["["]
    size, first = 1, True
    for obj in objects:
        text = json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(",", ":"))
        parts.append(text if first else "," + text)
        first = False
        size += len(text) + 1
        if size >= CHUNK_CHARS:
            yield "".join(parts).encode()
            parts, size = [], 0
    parts.append("]")
    yield "".join(parts).encode()


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    end = object()
    step = sync_to_async(lambda: next(chunks, end), thread_sensitive=True)
    while (chunk := await step()) is not end:
        yield chunk


def streaming_response(request, chunks: Iterator[bytes], *, filename: str, content_type: str
                       ) -> StreamingHttpResponse:
    """A download of ``chunks`` named ``filename`` (Content-Disposition: attachment), async under ASGI."""
    underlying = getattr(request, "_request", request)
    content = _async_chunks(iter(chunks)) if isinstance(underlying, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def csv_response(request, *, filename: str, header: Sequence[str], rows: Iterable[Sequence]
                 ) -> StreamingHttpResponse:
    return streaming_response(request, csv_chunks(header, rows), filename=filename,
                              content_type="text/csv; charset=utf-8")


def json_response(request, *, filename: str, objects: Iterable[dict]) -> StreamingHttpResponse:
    return streaming_response(request, json_array_chunks(objects), filename=filename,
                              content_type="application/json")
