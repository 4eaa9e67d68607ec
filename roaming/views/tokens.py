"""The tokens module, Receiver interface (/ocpi/cpo/<version>/tokens/{country_code}/{party_id}/{token_uid}[?type=]):
eMSPs PUT, PATCH and GET their tokens in our store. The rules are in roaming.services.tokens."""

from django.utils.translation import gettext as _

from roaming.services import tokens as service
from roaming.transport import INVALID_PARAMETERS, OcpiError, OcpiView
from roaming.views.versions import register_endpoint

register_endpoint("tokens", "RECEIVER", "roaming:tokens")


class TokensView(OcpiView):
    functional_module = True

    def _key(self, request, country_code: str | None, party_id: str | None, token_uid: str | None):
        if not (country_code and party_id and token_uid):
            raise OcpiError(INVALID_PARAMETERS, _("Name the token: tokens/{country_code}/{party_id}/{token_uid}."),
                            http_status=404)
        key = service.token_key(country_code=country_code, party_id=party_id, uid=token_uid,
                                token_type=request.query_params.get("type"))
        if not service.may_write(self.party, key, from_country=request.headers.get("OCPI-from-country-code", ""),
                                 from_party=request.headers.get("OCPI-from-party-id", "")):
            # transport_and_format, Client Owned Objects: another party's objects may be answered with 404.
            raise OcpiError(INVALID_PARAMETERS, _("%(country)s/%(party)s is not one of your credentials roles.")
                            % {"country": key.country_code, "party": key.party_id}, http_status=404)
        return key

    def get(self, request, version: str, country_code=None, party_id=None, token_uid=None):
        key = self._key(request, country_code, party_id, token_uid)
        return self.ok(service.token_to_ocpi(service.token_get(key=key)))

    def put(self, request, version: str, country_code=None, party_id=None, token_uid=None):
        key = self._key(request, country_code, party_id, token_uid)
        _token, created = service.token_put(party=self.party, key=key, data=request.data)
        return self.ok(None, status=201 if created else 200)

    def patch(self, request, version: str, country_code=None, party_id=None, token_uid=None):
        key = self._key(request, country_code, party_id, token_uid)
        service.token_patch(party=self.party, key=key, data=request.data)
        return self.ok(None)
