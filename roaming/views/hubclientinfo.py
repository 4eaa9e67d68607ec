"""The hubclientinfo module, Receiver interface (/ocpi/cpo/<version>/hubclientinfo/{country_code}/{party_id}):
a hub tells us which parties behind it are connected. The rules are in roaming.services.hubclientinfo."""

from django.utils.translation import gettext as _

from roaming.services import hubclientinfo as service
from roaming.transport import INVALID_PARAMETERS, OcpiError, OcpiView
from roaming.views.versions import register_endpoint

register_endpoint("hubclientinfo", "RECEIVER", "roaming:hubclientinfo")


class HubClientInfoView(OcpiView):
    functional_module = True

    @staticmethod
    def _ids(country_code, party_id):
        if not (country_code and party_id):
            raise OcpiError(INVALID_PARAMETERS, _("Name the party: hubclientinfo/{country_code}/{party_id}."),
                            http_status=404)

    def get(self, request, version: str, country_code=None, party_id=None):
        self._ids(country_code, party_id)
        infos = service.client_info_get(hub=self.party, country_code=country_code, party_id=party_id)
        if not infos:
            raise OcpiError(INVALID_PARAMETERS, _("No ClientInfo for %(country)s/%(party)s.")
                            % {"country": country_code, "party": party_id}, http_status=404)
        return self.ok(service.client_info_to_ocpi(infos[0]))

    def put(self, request, version: str, country_code=None, party_id=None):
        self._ids(country_code, party_id)
        _info, created = service.client_info_put(hub=self.party, country_code=country_code, party_id=party_id,
                                                 data=request.data)
        return self.ok(None, status=201 if created else 200)
