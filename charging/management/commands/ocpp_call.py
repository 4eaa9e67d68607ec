import json

from django.core.management.base import BaseCommand, CommandError

from charging.commands import CommandFailed, send
from charging.models import ChargePoint


class Command(BaseCommand):
    help = ("Send any CSMS→charger OCPP call through the running server and print the charger's answer as JSON. "
            "From a separate process this needs REDIS_URL (the in-memory channel layer is per process).")

    def add_arguments(self, parser):
        parser.add_argument("identity")
        parser.add_argument("action", help="e.g. Reset, RemoteStartTransaction, GetVariables")
        parser.add_argument("--payload", default="{}", help="JSON payload in OCPP wire format (camelCase)")
        parser.add_argument("--reason", required=True, help="Why (stored with the command)")
        parser.add_argument("--timeout", type=float, default=None)

    def handle(self, *args, identity, action, payload, reason, timeout, **options):
        charge_point = ChargePoint.objects.filter(identity=identity).first()
        if charge_point is None:
            raise CommandError(f"No charge point {identity!r}.")
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--payload is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CommandError("--payload must be a JSON object.")
        try:
            command = send(charge_point=charge_point, action=action, payload=data, acting_user=None, reason=reason,
                           timeout=timeout)
        except CommandFailed as exc:
            self.stderr.write(json.dumps({"status": exc.command.status, "error": exc.command.error,
                                          "details": exc.command.response}))
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(command.response))
