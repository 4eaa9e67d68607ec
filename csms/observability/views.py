"""Probes and metrics for the proxy, the orchestrator and Prometheus.

- ``/healthz``: liveness — the process answers (and reaches the database: a process that cannot is no use).
- ``/readyz``: readiness — the database, the cache and the channel layer each answer; 503 naming what fails.
- ``/metrics``: Prometheus text format; with METRICS_TOKEN set, only with ``Authorization: Bearer <token>``.
"""

import asyncio
import hmac
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from charging.models import ChargePoint, ServerProcess
from charging.ocpp.presence import NAME as PROCESS_NAME
from charging.ocpp.presence import presence
from csms.observability import garbage, metrics

#: Seconds each readiness check may take.
CHECK_SECONDS = 2.0


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("a value written was not read back")
    cache.delete(key)


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "readyz.ping"})
    message = await asyncio.wait_for(layer.receive(channel), CHECK_SECONDS)
    if message.get("type") != "readyz.ping":
        raise RuntimeError("another message came back")


def _channel_layer() -> None:
    async_to_sync(_layer_round_trip)()


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, the cache and the channel layer answer, else 503 with what failed."""
    checks = {}
    for name, check in (("database", _database), ("cache", _cache), ("channel_layer", _channel_layer)):
        began = time.monotonic()
        try:
            check()
        except Exception as error:  # noqa: BLE001 - every failure is a "not ready" with its reason
            checks[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
        else:
            checks[name] = {"ok": True, "ms": round((time.monotonic() - began) * 1000, 1)}
    ready_now = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ready" if ready_now else "not ready", "process": PROCESS_NAME,
                         "checks": checks}, status=200 if ready_now else 503)


def _queue_depth() -> list[tuple[dict[str, str], float]]:
    """Tasks waiting in the Celery queue (Redis broker: the list's length; the file broker: its files)."""
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis"):
        import redis

        return [({"queue": "celery"}, redis.Redis.from_url(broker, socket_timeout=CHECK_SECONDS).llen("celery"))]
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if folder:
        from pathlib import Path

        return [({"queue": "celery"}, sum(1 for _ in Path(folder).iterdir()))]
    return []


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("A bearer token is required for the metrics.\n", status=401,
                            content_type="text/plain; charset=utf-8")
    now = timezone.now()
    processes = list(ServerProcess.objects.filter(alive_until__gte=now).values_list("name", "chargers"))
    lines = [
        *metrics.gauge("csms_chargers_connected", "Chargers connected to any server process (database).",
                       [({}, ChargePoint.objects.filter(is_connected=True).count())]),
        *metrics.gauge("csms_server_process_chargers", "Chargers held by each live server process (its last beat).",
                       [({"process": name}, chargers) for name, chargers in processes]),
        *metrics.gauge("csms_process_chargers", "Chargers connected to this process.",
                       [({"process": PROCESS_NAME}, len(presence.stations))]),
        *metrics.OCPP_FRAMES.render(),
        *metrics.OCPP_CALLS.render(),
        *metrics.OCPP_COMMAND_SECONDS.render(),
        *metrics.HTTP_REQUESTS.render(),
        *garbage.GC_PAUSES.render(),
        *garbage.GC_SWEEPS.render(),
    ]
    try:
        lines += metrics.gauge("csms_task_queue_depth", "Tasks waiting for a Celery worker.", _queue_depth())
    except Exception:  # noqa: BLE001 - the broker being away must not hide the other metrics
        lines += metrics.gauge("csms_task_queue_depth", "Tasks waiting for a Celery worker.", [])
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
