"""Support notes on a charge point: who wrote what, and when."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from charging.models import ChargePoint, StationNote

MAX_NOTE_LENGTH = 5000


@transaction.atomic
def station_note_add(*, charge_point: ChargePoint, text: str, acting_user: User | None, at: datetime
                     ) -> StationNote:
    """Add a note to the station's page. The note explains itself, so its text is the audit row's reason."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write the note.")})
    if len(text) > MAX_NOTE_LENGTH:
        raise ValidationError({"text": _("A note holds at most %(n)d characters.") % {"n": MAX_NOTE_LENGTH}})
    note = StationNote.objects.create(charge_point=charge_point, text=text, author=acting_user, created_at=at)
    audit.record(action="stationnote.added", target=note, acting_user=acting_user, reason=text[:500],
                 organization=charge_point.organization, changes={"text": (None, text[:200])}, at=at)
    return note
