"""The commands module, Receiver interface: POST /ocpi/cpo/<version>/commands/{command}. The rules and the
asynchronous CommandResult are in roaming.services.commands."""

from rest_framework.response import Response

from roaming.services import commands as service
from roaming.transport import OcpiView, envelope
from roaming.views.versions import register_endpoint

register_endpoint("commands", "RECEIVER", "roaming:commands")


class CommandsView(OcpiView):
    functional_module = True

    def post(self, request, version: str, command: str | None = None):
        answer = service.command_receive(party=self.party, command=(command or "").upper(), data=request.data)
        if answer.status_code != 1000:
            return Response(envelope(answer.data, answer.status_code, answer.message))
        return self.ok(answer.data)
