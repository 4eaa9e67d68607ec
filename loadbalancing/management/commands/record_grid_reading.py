"""A building meter reading by hand or from a meter script: ``record_grid_reading --group 3 --l1 20 --l2 12 --l3 9``.
The tree is recomputed afterwards (through Celery, so the new limits reach the chargers from any process)."""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from loadbalancing.models import PowerGroup
from loadbalancing.services import LoadBalancingError, grid_reading_record, root_of


def _amps(raw: str) -> Decimal:
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise CommandError(f"{raw!r} is not a current in amperes.") from None


class Command(BaseCommand):
    help = "Store the building's load per phase on a power group's feed (true dynamic load balancing)."

    def add_arguments(self, parser):
        parser.add_argument("--group", type=int, required=True, help="Power group id")
        for phase in ("l1", "l2", "l3"):
            parser.add_argument(f"--{phase}", required=True, help=f"Current on {phase.upper()} (A)")
        parser.add_argument("--at", help="When it was measured (ISO 8601 with zone; default now)")
        parser.add_argument("--source", default="command")

    def handle(self, *args, group, l1, l2, l3, at=None, source="command", **options):
        power_group = PowerGroup.objects.filter(pk=group).first()
        if power_group is None:
            raise CommandError(f"No power group {group}.")
        try:
            measured_at = datetime.fromisoformat(at) if at else timezone.now()
        except ValueError:
            raise CommandError(f"{at!r} is not an ISO 8601 time.") from None
        from loadbalancing.tasks import recompute_tree_task

        try:
            with transaction.atomic():
                reading = grid_reading_record(group=power_group, measured_at=measured_at,
                                              currents=(_amps(l1), _amps(l2), _amps(l3)), source=source)
                root_id = root_of(power_group).pk
                transaction.on_commit(lambda: recompute_tree_task.delay(root_id))
        except LoadBalancingError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Stored {reading} ({reading.l1}/{reading.l2}/{reading.l3} A)."))
