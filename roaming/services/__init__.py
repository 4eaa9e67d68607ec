"""Writes of the roaming app: the credentials handshake in both directions (``credentials``)."""
