from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import IdToken, User
from accounts.services.tokens import id_token_issue
from charging.management.commands._organizations import organization_by_slug_or_id


class Command(BaseCommand):
    help = "Issue an ID token (RFID tag by default) to an organization and optionally a member."

    def add_arguments(self, parser):
        parser.add_argument("uid")
        parser.add_argument("--organization", required=True, help="Slug or id")
        parser.add_argument("--user", help="E-mail of the owner (a member of the organization)")
        parser.add_argument("--type", default=IdToken.Type.RFID, choices=IdToken.Type.values)
        parser.add_argument("--status", default=IdToken.Status.ACTIVE, choices=IdToken.Status.values)
        parser.add_argument("--reason", default="Issued from the command line")

    def handle(self, *args, uid, organization, user, type, status, reason, **options):
        owner = None
        if user:
            owner = User.objects.filter(email=user.strip().lower()).first()
            if owner is None:
                raise CommandError(f"No user with e-mail {user!r}.")
        try:
            token = id_token_issue(organization=organization_by_slug_or_id(organization), uid=uid, type=type,
                                   user=owner, status=status, acting_user=None, reason=reason)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Issued {token} ({token.get_status_display()}).")
