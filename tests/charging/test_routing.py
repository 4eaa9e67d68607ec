"""Websocket paths nothing serves are refused at the handshake, not answered with a server error."""

import pytest
from channels.testing import WebsocketCommunicator

from csms.asgi import application


@pytest.mark.parametrize("path", ["/ocpp/ocpp/CP-1", "/ocpp/", "/elsewhere", "/ocpp/" + "X" * 49])
async def test_an_unknown_websocket_path_is_refused(path):
    communicator = WebsocketCommunicator(application, path, subprotocols=["ocpp1.6"])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 1000  # closed before accepting: the client sees HTTP 403
    await communicator.disconnect()
