"""The tariffs module, Sender interface (/ocpi/cpo/<version>/tariffs): the tariffs in force at published EVSEs
(paginated, filtered on last_updated), and one by id (OCPI 2.2.1 has no GET object for tariffs; we answer it too,
since partners ask for a tariff_id they found on a connector)."""

from django.utils.translation import gettext as _

from roaming.services import pushes
from roaming.transport import CLIENT_ERROR, OcpiError, OcpiView, page_headers, parse_ocpi_datetime, parse_page_params
from roaming.views.versions import register_endpoint

register_endpoint("tariffs", "SENDER", "roaming:tariffs")


class TariffsView(OcpiView):
    functional_module = True

    def get(self, request, version: str, tariff_id: str | None = None):
        objects = pushes.tariff_objects()
        if tariff_id is not None:
            tariff = next((item for item in objects if item["id"] == tariff_id), None)
            if tariff is None:
                raise OcpiError(CLIENT_ERROR, _("Unknown tariff."), http_status=404)
            return self.ok(tariff)
        # Tariffs are few and their last_updated is computed (today's spot prices): filtered and paged here.
        params = parse_page_params(request.query_params, default_limit=100, max_limit=500)
        selected = [item for item in objects
                    if (params.date_from is None or _at(item) >= params.date_from)
                    and (params.date_to is None or _at(item) < params.date_to)]
        query = [(key, value) for key, values in request.query_params.lists() for value in values]
        headers = page_headers(url=request.build_absolute_uri(request.path), query=query, params=params,
                               total=len(selected))
        return self.ok(selected[params.offset:params.offset + params.limit], headers=headers)


def _at(item: dict):
    return parse_ocpi_datetime(item["last_updated"])
