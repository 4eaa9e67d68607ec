"""The charging profiles module, Receiver interface: GET (ActiveChargingProfile), PUT (SetChargingProfile) and DELETE
on /ocpi/cpo/<version>/chargingprofiles/{session_id}, each answered with a ChargingProfileResponse and its result
POSTed to response_url later. The rules are in roaming.services.commands."""

from django.utils.translation import gettext as _

from roaming.services import commands as service
from roaming.transport import INVALID_PARAMETERS, OcpiError, OcpiView
from roaming.views.versions import register_endpoint

register_endpoint("chargingprofiles", "RECEIVER", "roaming:chargingprofiles")


class ChargingProfilesView(OcpiView):
    functional_module = True

    def _session_id(self, session_id: str | None) -> str:
        if not session_id:
            raise OcpiError(INVALID_PARAMETERS, _("Name the session: chargingprofiles/{session_id}."), http_status=404)
        return session_id

    def _answer(self, answer: service.Answer):
        return self.ok(answer.data, message=answer.message)

    def get(self, request, version: str, session_id: str | None = None):
        raw = request.query_params.get("duration", "")
        duration = int(raw) if raw.isdigit() else None
        return self._answer(service.profile_receive(
            party=self.party, kind="GET_PROFILE", session_id=self._session_id(session_id),
            response_url=request.query_params.get("response_url", ""), body={"duration": duration}))

    def put(self, request, version: str, session_id: str | None = None):
        body = request.data if isinstance(request.data, dict) else {}
        return self._answer(service.profile_receive(
            party=self.party, kind="SET_PROFILE", session_id=self._session_id(session_id),
            response_url=str(body.get("response_url") or ""),
            body={"charging_profile": body.get("charging_profile")}))

    def delete(self, request, version: str, session_id: str | None = None):
        return self._answer(service.profile_receive(
            party=self.party, kind="CLEAR_PROFILE", session_id=self._session_id(session_id),
            response_url=request.query_params.get("response_url", ""), body={}))
