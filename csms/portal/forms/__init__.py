"""Forms of the tenant portal, one module per area."""
