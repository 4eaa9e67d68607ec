"""The OCPP gateway: the websocket consumer, the per-version handlers and spec-correct framing and errors."""
