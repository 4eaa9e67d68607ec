"""The sessions module, Sender interface (/ocpi/cpo/<version>/sessions): GET the requesting partner's roaming
sessions (paginated; ``date_from`` is required by the spec), and PUT charging preferences (not supported by our
EVSEs, so answered NOT_POSSIBLE; 2001 for a session that is not the partner's)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from roaming import mapping
from roaming.services import sessions as service
from roaming.transport import INVALID_PARAMETERS, OcpiError, OcpiView, paginate
from roaming.views.versions import register_endpoint

register_endpoint("sessions", "SENDER", "roaming:sessions")


class SessionsView(OcpiView):
    functional_module = True

    def get(self, request, version: str):
        if not request.query_params.get("date_from"):
            raise OcpiError(INVALID_PARAMETERS, _("date_from is required."))
        page = paginate(request, service.party_sessions(self.party), date_field="ocpi_last_updated")
        now = timezone.now()
        return self.ok([mapping.session_to_ocpi(session, at=now) for session in page.items], headers=page.headers)


class ChargingPreferencesView(OcpiView):
    functional_module = True

    def put(self, request, version: str, session_id: str):
        if not service.party_sessions(self.party).filter(pk=int(session_id) if session_id.isdigit() else 0).exists():
            raise OcpiError(INVALID_PARAMETERS, _("Unknown session."), http_status=404)
        # Our EVSEs do not list CHARGING_PREFERENCES_CAPABLE: preferences cannot be applied.
        return self.ok("NOT_POSSIBLE")
