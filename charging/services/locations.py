"""Sites where charge points stand."""

from django.db import transaction

from accounts.models import Organization, User
from accounts.services import audit
from charging.models import Location


@transaction.atomic
def location_create(*, organization: Organization, name: str, acting_user: User | None, reason: str,
                    **details) -> Location:
    location = Location(organization=organization, name=name, **details)
    location.full_clean()
    location.save()
    audit.record(action="location.created", target=location, acting_user=acting_user, reason=reason)
    return location
