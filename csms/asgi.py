"""ASGI entry point: HTTP goes to Django, websockets to the routes in csms.routing (OCPP chargers)."""

import gc
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

# Thousands of long-lived connections make a full garbage collection walk millions of objects, stalling every
# charger's answer for a good part of a second. Objects that exist now (Django, URLconf, models) never die: move
# them out of the collector's sight, and collect the young generation less often.
gc.freeze()
gc.set_threshold(50_000, 20, 100)
