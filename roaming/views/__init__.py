"""OCPI endpoints: ``versions`` (our versions and version details, and the registry every module's endpoint is
listed through) and ``credentials``; each functional module adds its own view module."""
