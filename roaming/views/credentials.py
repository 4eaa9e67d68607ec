"""The credentials endpoint (/ocpi/<version>/credentials): a partner registers (POST, with token A), renews (PUT)
or ends (DELETE) its connection with us, or reads our credentials (GET)."""

from django.utils.translation import gettext as _

from roaming.services import credentials as service
from roaming.transport import OcpiView


class CredentialsView(OcpiView):
    def get(self, request, version: str):
        # The Credentials object carries the token the partner calls us with: the one it just presented.
        return self.ok(service.our_credentials(request.auth.token))

    def post(self, request, version: str):
        if self.party.is_registered:
            raise service.NotRegistered(_("Already registered: use PUT to update the credentials."))
        return self.ok(service.credentials_register(party=self.party, data=request.data, version=version))

    def put(self, request, version: str):
        if not self.party.is_registered:
            raise service.NotRegistered(_("Not registered: use POST to register."))
        return self.ok(service.credentials_update(party=self.party, data=request.data, version=version))

    def delete(self, request, version: str):
        if not self.party.is_registered:
            raise service.NotRegistered(_("Not registered."))
        service.credentials_unregister(party=self.party)
        return self.ok(None)
