"""Admin pages of the charging app, one module per area (see each module's docstring)."""

from charging.admin import (  # noqa: F401  (registers the pages)
    access,
    alarms,
    charge_points,
    field_service,
    network,
    records,
)
