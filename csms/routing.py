"""Websocket routes. Chargers connect at /ocpp/<identity> (charging/ocpp/)."""

from charging.routing import websocket_urlpatterns as charging_routes

websocket_urlpatterns = [*charging_routes]
