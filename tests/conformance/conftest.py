"""Black-box conformance: a real daphne server in its own process on a free port, driven over real websockets
by the `ocpp` library's ChargePoint clients.

The server fixtures (`csms_server`, `redis_url`, `server_settings`) are in tests/conftest.py, shared with the
browser tests. The server shares the test database (PostgreSQL in CI; a SQLite file locally) and the channel layer
(Redis when REDIS_URL is set — CI; otherwise a private redis-server is started if one is installed, so commands
sent from this test process reach the server process).
"""

