"""Local stand-ins for payment providers, used by the billing tests (loopback only)."""
