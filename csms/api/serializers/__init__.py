"""Connect API representations, one module per area (stations, sessions, people, billing, …)."""
