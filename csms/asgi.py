"""ASGI entry point: HTTP goes to Django, websockets to the routes in csms.routing (OCPP chargers)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")

# Django must be set up before the websocket routes import models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from csms.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# Thousands of long-lived connections: keep garbage collection from stalling every charger's answer.
from django.conf import settings  # noqa: E402

from csms.observability import garbage  # noqa: E402

garbage.install(freeze_seconds=settings.GC_FREEZE_SECONDS, sweep_seconds=settings.GC_SWEEP_SECONDS,
                slow_pause_seconds=settings.GC_SLOW_PAUSE_SECONDS, thresholds=settings.GC_THRESHOLDS)
