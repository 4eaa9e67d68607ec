from django.urls import re_path

from charging.ocpp.consumer import OcppConsumer

websocket_urlpatterns = [
    # The identity is the last path segment (OCPP: at most 48 characters, no slash).
    re_path(r"^ocpp/(?P<identity>[^/]{1,48})/?$", OcppConsumer.as_asgi()),
]
