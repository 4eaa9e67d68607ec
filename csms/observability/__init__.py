"""Running csms in production: liveness and readiness (``views``), Prometheus metrics (``metrics``) and JSON logs
with the request and charge point they belong to (``logs``)."""
