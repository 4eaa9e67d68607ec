"""Admin pages of the charging app, one module per area (see each module's docstring)."""

from charging.admin import charge_points, network, records  # noqa: F401  (registers the pages)
