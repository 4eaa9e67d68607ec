"""Websocket routes. Chargers connect at /ocpp/<identity> (see charging/ocpp/)."""

websocket_urlpatterns: list = []
