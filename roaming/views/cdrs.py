"""The CDRs module, Sender interface (/ocpi/cpo/<version>/cdrs): GET the requesting partner's CDRs (finished,
priced roaming sessions), paginated, filtered on last_updated (the pricing time)."""

from roaming import mapping
from roaming.services import sessions as service
from roaming.transport import OcpiView, paginate
from roaming.views.versions import register_endpoint

register_endpoint("cdrs", "SENDER", "roaming:cdrs")


class CdrsView(OcpiView):
    functional_module = True

    def get(self, request, version: str):
        page = paginate(request, service.party_cdrs(self.party), date_field="cost__priced_at")
        return self.ok([mapping.cdr_to_ocpi(session) for session in page.items], headers=page.headers)
