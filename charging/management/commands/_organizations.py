from django.core.management.base import CommandError

from accounts.models import Organization


def organization_by_slug_or_id(value: str) -> Organization:
    query = Organization.objects.filter(pk=int(value)) if value.isdigit() else Organization.objects.filter(
        slug=value)
    organization = query.first()
    if organization is None:
        raise CommandError(f"No organization with slug or id {value!r}.")
    return organization
