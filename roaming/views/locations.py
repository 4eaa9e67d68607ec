"""The locations module, Sender interface (/ocpi/cpo/<version>/locations): the list of the Locations we publish
and one Location, EVSE or Connector by id. Only what roaming.mapping publishes appears: public EVSEs with an
EVSE-ID, never semi-public or private ones; an id that is not published is "unknown location" (2003).

The list is paged in id order and filtered on last_updated here rather than by transport.paginate: last_updated is
the latest of several rows' times, which roaming.services.pushes.changed_between filters with semi-joins."""

from django.utils.translation import gettext as _

from roaming.services import pushes
from roaming.transport import UNKNOWN_LOCATION, OcpiError, OcpiView, page_headers, parse_page_params
from roaming.views.versions import register_endpoint

register_endpoint("locations", "SENDER", "roaming:locations")


def _unknown(message: str) -> OcpiError:
    return OcpiError(UNKNOWN_LOCATION, message, http_status=404)


class LocationsView(OcpiView):
    """GET list, or GET one object: /{location_id}[/{evse_uid}[/{connector_id}]]."""

    functional_module = True

    def get(self, request, version: str, location_id: str | None = None, evse_uid: str | None = None,
            connector_id: str | None = None):
        if location_id is None:
            params = parse_page_params(request.query_params, default_limit=100, max_limit=500)
            queryset = pushes.changed_between(pushes.published_locations(), date_from=params.date_from,
                                              date_to=params.date_to)
            total = queryset.count()
            page = list(queryset[params.offset:params.offset + params.limit])
            query = [(key, value) for key, values in request.query_params.lists() for value in values]
            headers = page_headers(url=request.build_absolute_uri(request.path), query=query, params=params,
                                   total=total)
            return self.ok(pushes.location_objects(page), headers=headers)
        location = pushes.location_object(int(location_id)) if location_id.isdigit() else None
        if location is None:
            raise _unknown(_("Unknown location."))
        if evse_uid is None:
            return self.ok(location)
        evse = next((item for item in location["evses"] if item["uid"] == evse_uid), None)
        if evse is None:
            raise _unknown(_("Unknown EVSE."))
        if connector_id is None:
            return self.ok(evse)
        connector = next((item for item in evse["connectors"] if item["id"] == connector_id), None)
        if connector is None:
            raise _unknown(_("Unknown connector."))
        return self.ok(connector)
