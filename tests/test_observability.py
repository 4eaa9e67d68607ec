"""Probes, metrics and logs for running csms: /healthz, /readyz (503 naming what fails), /metrics (Prometheus text,
optionally behind a bearer token), the request id on answers and logs, and JSON log lines."""

import json
import logging
import re

import pytest
from django.core.cache import cache

from charging.models import ServerProcess
from csms.observability import logs, metrics
from tests.charging.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def test_liveness_and_readiness_answer_with_every_check(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "cache", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readiness_is_503_and_names_what_fails(client, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(cache, "set", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["database"]["ok"], checks["cache"]["ok"], checks["channel_layer"]["ok"]) == (True, False, True)
    assert "6379" in checks["cache"]["error"]


def test_metrics_are_prometheus_text_with_fleet_and_process_figures(client, settings):
    settings.METRICS_TOKEN = ""
    ChargePointFactory.create_batch(3, is_connected=True)
    ChargePointFactory(is_connected=False)
    ServerProcess.objects.create(name='web-1:7:ab"c', started_at="2026-11-22T10:00Z", alive_until="2099-01-01T00:00Z",
                                 chargers=3)
    metrics.OCPP_FRAMES.inc(direction="in")
    metrics.OCPP_COMMAND_SECONDS.observe(0.2, outcome="answered")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert "csms_chargers_connected 3\n" in text
    assert 'csms_server_process_chargers{process="web-1:7:ab\\"c"} 3\n' in text
    assert re.search(r'csms_ocpp_frames_total\{direction="in"\} \d+', text)
    assert re.search(r'csms_ocpp_command_seconds_bucket\{le="0.25",outcome="answered"\} [1-9]', text)
    assert 'csms_task_queue_depth{queue="celery"}' in text
    for line in text.splitlines():  # every sample line is "name{labels} value"
        assert line.startswith("# ") or re.fullmatch(r'[a-z_]+(\{.*\})? [0-9.e+-]+', line), line


def test_metrics_need_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").status_code == 200


def test_the_request_id_is_taken_from_the_proxy_or_made(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="4f1c2a9be0d34c5a")
    assert given["X-Request-ID"] == "4f1c2a9be0d34c5a"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    bad = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert bad["X-Request-ID"] != "<script>"


def test_json_log_lines_carry_the_request_and_the_charge_point():
    record = logging.LogRecord("csms.ocpp", logging.WARNING, __file__, 1, "refused %s", ("x",), None)
    request_token = logs.request_id.set("abc123def456")
    station_token = logs.charge_point.set("SE*CSM*E1")
    try:
        assert logs.ContextFilter().filter(record)
    finally:
        logs.request_id.reset(request_token)
        logs.charge_point.reset(station_token)
    line = json.loads(logs.JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "csms.ocpp", "refused x")
    assert (line["request_id"], line["charge_point"]) == ("abc123def456", "SE*CSM*E1")
    assert line["ts"].endswith("+00:00")


def test_garbage_collections_are_measured_and_a_sweep_frees_cycles_among_frozen_objects(client):
    import gc
    import weakref

    from csms.observability import garbage

    garbage.install(freeze_seconds=0, sweep_seconds=0)  # what csms.asgi does in a server process (once)
    assert gc.callbacks.count(garbage._on_collection) == 1

    class Node:
        """An object that can refer to itself."""

    node = Node()
    node.self = node  # a reference cycle: only the collector frees it
    alive = weakref.ref(node)
    gc.freeze()  # as the keeper does every GC_FREEZE_SECONDS
    del node
    gc.collect()
    assert alive() is not None  # frozen: out of the collector's sight
    assert garbage.sweep() >= 1
    assert alive() is None
    assert gc.get_freeze_count() > 0  # what survived the sweep is frozen again

    text = client.get("/metrics").content.decode()
    assert re.search(r'^csms_gc_pause_seconds_count\{generation="2"\} [1-9]', text, re.MULTILINE)
    assert re.search(r'^csms_gc_sweeps_total\{kind="sweeps"\} [1-9]', text, re.MULTILINE)
