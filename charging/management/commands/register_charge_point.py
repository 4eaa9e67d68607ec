from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from charging.management.commands._organizations import organization_by_slug_or_id
from charging.services.stations import charge_point_register, generate_auth_key


class Command(BaseCommand):
    help = "Register a charge point so it may connect at /ocpp/<identity>. Prints a generated AuthorizationKey once."

    def add_arguments(self, parser):
        parser.add_argument("identity")
        parser.add_argument("--organization", required=True, help="Slug or id of the owning organization")
        parser.add_argument("--auth-key", help="AuthorizationKey for HTTP Basic auth (default: generate one)")
        parser.add_argument("--no-auth", action="store_true", help="Allow connecting without Basic auth")
        parser.add_argument("--evses", type=int, default=1)
        parser.add_argument("--name", default="", help="Display name, e.g. 'Laddplats 01'")
        parser.add_argument("--reason", default="Registered from the command line")

    def handle(self, *args, identity, organization, auth_key, no_auth, evses, name, reason, **options):
        generated = not auth_key and not no_auth
        key = None if no_auth else (auth_key or generate_auth_key())
        try:
            charge_point = charge_point_register(identity=identity, organization=organization_by_slug_or_id(
                organization), evses=evses, auth_key=key, display_name=name, acting_user=None, reason=reason)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Registered {charge_point} with {evses} EVSE(s).")
        if generated:
            self.stdout.write(f"AuthorizationKey (shown once): {key}")
