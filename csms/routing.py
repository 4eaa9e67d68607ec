"""Websocket routes. Chargers connect at /ocpp/<identity> (charging/ocpp/). Any other path is refused at the
handshake (HTTP 403), not answered with a server error."""

import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from charging.routing import websocket_urlpatterns as charging_routes

logger = logging.getLogger("csms.ocpp")


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Refuses a websocket to a path nothing serves (e.g. a charger configured with a wrong URL)."""

    async def connect(self):
        logger.info("Websocket to unknown path %s refused", self.scope.get("path", "")[:200])
        await self.close()


websocket_urlpatterns = [*charging_routes, re_path(r"", UnknownPathConsumer.as_asgi())]
