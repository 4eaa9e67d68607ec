"""Load demo data: the operator, two housing associations with residents, tags, groups and charge points, and
logins.

Idempotent: run it on every start; rows that exist are left as they are. Everything is created through the
services, so the audit log shows it as the system's doing with the reason "Demo data".
"""

import hashlib
import secrets
from datetime import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import IdToken, Membership, Organization, User, UserGroup
from accounts.services.groups import user_group_add_members, user_group_create
from accounts.services.organizations import organization_create, user_grant_admin_access
from accounts.services.tokens import id_token_issue
from accounts.services.users import membership_change_role, user_invite
from billing.models import BillingProfile, FeePlan, SubscriptionPlan, Tariff
from billing.services.tariffs import tariff_assign, tariff_create
from charging.access import AccessMode, ScheduleRule
from charging.models import ChargePoint, Location, MaintenancePlan, NotificationGroup
from charging.services.access import charge_point_access_set
from charging.services.field_service import add_months, maintenance_plan_set
from charging.services.locations import location_create
from charging.services.notifications import notification_group_create
from charging.services.stations import charge_point_register

REASON = "Demo data"
FIRST_NAMES = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Anders", "Sara", "Per", "Lena",
               "Mikael", "Emma", "Nils", "Ingrid", "Oskar", "Elin", "Gustav", "Maja", "Henrik", "Linnea",
               "Fredrik", "Ida", "Magnus", "Klara", "Jonas", "Sofia", "Olof", "Astrid", "Viktor"]
LAST_NAMES = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
              "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Lindberg",
              "Lindqvist", "Berg", "Holm", "Sandberg", "Lund", "Ekström", "Forsberg", "Sjöberg", "Wallin",
              "Engström", "Danielsson", "Håkansson", "Lindström", "Nyström"]
ASCII_LETTERS = str.maketrans("åäö", "aao")
SOLROSEN_RESIDENTS = 30
TALLBACKEN_RESIDENTS = 6

DEMO_CHARGE_POINTS = [("ZPR164844", "1000441"), ("ZPR167324", "1000442"), ("ZPR167431", "1000443"),
                      ("ZPR167874", "1000444"), ("ZPR167197", "1000445"), ("ZPR167196", "1000446"),
                      ("ZPR167279", "1000447"), ("ZPR167313", "1000448"), ("ZPR166800", "1000449"),
                      ("ZPR167445", "1000450"), ("ZPR167980", "1000451"), ("ZPR167953", "1000452")]

ORGANIZATIONS = [
    {"slug": "operator", "kind": Organization.Kind.OPERATOR, "name": "Laddnät Norden AB",
     "org_number": "559123-4561", "vat_number": "SE559123456101", "street_address": "Kungsgatan 12",
     "postal_code": "111 43", "city": "Stockholm", "contact_email": "support@example.com",
     "billing_email": "ekonomi@example.com", "bankgiro_number": "1234-5674"},
    {"slug": "brf-solrosen", "kind": Organization.Kind.ASSOCIATION, "name": "Bostadsrättsföreningen Solrosen",
     "org_number": "769612-3459", "street_address": "Solrosvägen 4", "postal_code": "126 52",
     "city": "Hägersten", "contact_name": "Styrelsen", "contact_email": "styrelsen@example.com",
     "billing_email": "kassor@example.com", "bankgiro_number": "5566-7786", "payout_reference": "Laddstolpar"},
    {"slug": "brf-tallbacken", "kind": Organization.Kind.ASSOCIATION, "name": "Bostadsrättsföreningen Tallbacken",
     "org_number": "716444-1235", "street_address": "Tallbacksgatan 9", "postal_code": "413 04",
     "city": "Göteborg", "vat_exempt": True, "bankgiro_number": "7654-3214",
     "payout_reference": "Laddplatser"},
]


def demo_rfid_uid(slug: str, number: int) -> str:
    """A stable 7-byte RFID uid per demo resident, so reruns find the same tags."""
    return hashlib.sha256(f"{slug}-{number}".encode()).hexdigest()[:14].upper()


def demo_password(name: str) -> str:
    """A random password kept in DATA_DIR, so the printed login stays the same across restarts."""
    path = Path(settings.DATA_DIR) / f"demo-{name}-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create demo organizations, residents, tags, groups and logins (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        orgs = {spec["slug"]: self.organization(spec) for spec in ORGANIZATIONS}
        admin_password = demo_password("admin")
        board_password = demo_password("board")
        self.operator_admin(orgs["operator"], admin_password)
        residents = self.residents(orgs["brf-solrosen"], SOLROSEN_RESIDENTS, first_mobile=605)
        self.residents(orgs["brf-tallbacken"], TALLBACKEN_RESIDENTS, first_mobile=605 + SOLROSEN_RESIDENTS)
        self.groups(orgs["brf-solrosen"], residents)
        self.board_member(orgs["brf-solrosen"], residents[0], board_password)
        self.charge_points(orgs["brf-solrosen"])
        self.operations(orgs["operator"], orgs["brf-solrosen"], residents[0])
        self.prices_and_access(orgs["brf-solrosen"])
        self.payouts(orgs["brf-solrosen"])
        viewer_password, resident_password = demo_password("viewer"), demo_password("resident")
        self.portal_login(orgs["brf-solrosen"], residents[1], viewer_password, Membership.Role.ORG_VIEWER)
        self.portal_login(orgs["brf-solrosen"], residents[2], resident_password, Membership.Role.RESIDENT)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        self.stdout.write(f"  Admin login (operator support): {base}/admin/  admin@example.com / {admin_password}")
        self.stdout.write(f"  Board of BRF Solrosen (scoped): {base}/admin/  {residents[0].email} / {board_password}")
        self.stdout.write(f"  Portal, board (may change):    {base}/portal/  {residents[0].email} / {board_password}")
        self.stdout.write(f"  Portal, board viewer (looks):  {base}/portal/  {residents[1].email} / {viewer_password}")
        self.stdout.write(f"  Portal, resident:             {base}/portal/  {residents[2].email} / {resident_password}")

    def organization(self, spec: dict) -> Organization:
        existing = Organization.objects.filter(slug=spec["slug"]).first()
        if existing:
            return existing
        return organization_create(acting_user=None, reason=REASON, **spec)

    def operator_admin(self, operator: Organization, password: str) -> None:
        user = User.objects.filter(email="admin@example.com").first()
        if user is None:
            user = User.objects.create_superuser("admin@example.com", password, first_name="Support",
                                                 last_name="Operator")
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        Membership.objects.get_or_create(user=user, organization=operator,
                                         defaults={"role": Membership.Role.OPERATOR_SUPPORT})

    def residents(self, organization: Organization, count: int, first_mobile: int) -> list[User]:
        users = []
        for index in range(count):
            number = index + 1
            first, last = FIRST_NAMES[index % len(FIRST_NAMES)], LAST_NAMES[(index * 7) % len(LAST_NAMES)]
            email = f"{first}.{last}.{organization.slug}@example.com".lower().translate(ASCII_LETTERS)
            invitation = user_invite(
                # 070-174 06 05 … 070-174 06 99 are reserved for fiction by the Swedish regulator (PTS).
                organization=organization, email=email, mobile_number=f"+4670174{first_mobile + index:04d}",
                first_name=first, last_name=last, reference=f"Lgh {1000 + number}",
                acting_user=None, reason=REASON, send=False)
            uid = demo_rfid_uid(organization.slug, number)
            if not IdToken.objects.filter(uid=uid).exists():
                id_token_issue(organization=organization, uid=uid, user=invitation.user,
                               visual_number=f"{organization.pk:03d}-{number:05d}", acting_user=None, reason=REASON)
            users.append(invitation.user)
        return users

    def groups(self, organization: Organization, residents: list[User]) -> None:
        for name, members in (("Garage", residents[:18]), ("Utomhusplatser", residents[18:])):
            group = UserGroup.objects.filter(organization=organization, name=name).first() or user_group_create(
                organization=organization, name=name, acting_user=None, reason=REASON)
            user_group_add_members(group=group, users=members, acting_user=None, reason=REASON)

    def charge_points(self, organization: Organization) -> None:
        """The brochure's station list: Laddplats 01–12, no Basic auth so simulated chargers can connect."""
        location = Location.objects.filter(organization=organization).first() or location_create(
            organization=organization, name="Garage Solrosvägen 4", street_address="Solrosvägen 4",
            postal_code="126 52", city="Hägersten", acting_user=None, reason=REASON)
        for number, (identity, system_name) in enumerate(DEMO_CHARGE_POINTS, start=1):
            if not ChargePoint.objects.filter(identity=identity).exists():
                charge_point_register(identity=identity, organization=organization, evses=1,
                                      display_name=f"Laddplats {number:02d}", system_name=system_name,
                                      location=location, locked_box=True, acting_user=None, reason=REASON)

    def operations(self, operator: Organization, association: Organization, board: User) -> None:
        """Who hears about alarms (the operator's duty desk for everything, the board about its own stations going
        offline or tripping a fuse) and the annual inspection of the demo stations, spread over the year."""
        if not NotificationGroup.objects.filter(organization=operator).exists():
            notification_group_create(organization=operator, name="Driftlarm (jour)", emails="jour@example.com",
                                      acting_user=None, reason=REASON)
        if not NotificationGroup.objects.filter(organization=association).exists():
            notification_group_create(organization=association, name="Styrelsen", emails=board.email,
                                      kinds=["offline", "fuse_tripped"], acting_user=None, reason=REASON)
        first_due = timezone.localdate().replace(day=1)
        stations = ChargePoint.objects.filter(organization=association, identity__in=[i for i, _ in DEMO_CHARGE_POINTS])
        for month, station in enumerate(stations.order_by("identity")):
            if not MaintenancePlan.objects.filter(charge_point=station).exists():
                maintenance_plan_set(charge_point=station, interval_months=12,
                                     next_due_on=add_months(first_due, month), technician="Elservice Syd AB",
                                     acting_user=None, reason=REASON)

    def prices_and_access(self, association: Organization) -> None:
        """Residents pay 2.50 kr/kWh; Laddplats 12 is public outside weekday working hours, at 4.50 kr/kWh and
        1 kr/min after three hours (a blocking fee)."""
        if Tariff.objects.filter(organization=association).exists():
            return
        now = timezone.now()
        guest_station = ChargePoint.objects.get(identity=DEMO_CHARGE_POINTS[-1][0])
        # The dearer one first: assigned later, it would need the 30 days' notice of a price increase.
        guests = tariff_create(organization=association, name="Gästladdning", currency="SEK",
                               energy_price_ac=Decimal("4.50"), energy_price_dc=Decimal("4.50"),
                               time_price_per_minute=Decimal("1.00"), free_minutes=180, acting_user=None,
                               reason=REASON, now=now)
        tariff_assign(tariff=guests, charge_point=guest_station, valid_from=now, acting_user=None, reason=REASON,
                      now=now)
        residents = tariff_create(organization=association, name="Boendepris", currency="SEK",
                                  energy_price_ac=Decimal("2.50"), energy_price_dc=Decimal("2.50"), acting_user=None,
                                  reason=REASON, now=now)
        tariff_assign(tariff=residents, organization=association, valid_from=now, acting_user=None, reason=REASON,
                      now=now)
        working_hours = ScheduleRule(weekdays=frozenset(range(5)), start=time(7), end=time(18),
                                     mode=AccessMode.PRIVATE)
        charge_point_access_set(charge_point=guest_station, mode=AccessMode.PUBLIC, rules=[working_hours],
                                allowed_groups=[], acting_user=None, reason=REASON, now=now)

    def payouts(self, association: Organization) -> None:
        """The brochure's fee (0.39 kr/kWh excl. VAT on money collected) and a platform subscription for Solrosen,
        paid out by bank payment file to its Bankgiro."""
        fee_plan, _ = FeePlan.objects.get_or_create(name="Standard 0,39 kr/kWh",
                                                    defaults={"per_kwh": Decimal("0.39")})
        plan, _ = SubscriptionPlan.objects.get_or_create(name="Bas",
                                                         defaults={"monthly_per_charge_point": Decimal("49.00")})
        BillingProfile.objects.get_or_create(organization=association,
                                             defaults={"fee_plan": fee_plan, "subscription_plan": plan})

    def board_member(self, organization: Organization, user: User, password: str) -> None:
        membership = Membership.objects.get(user=user, organization=organization)
        if membership.role != Membership.Role.ORG_ADMIN:
            membership_change_role(membership=membership, role=Membership.Role.ORG_ADMIN, acting_user=None,
                                   reason=REASON)
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        if not user.is_staff:
            user_grant_admin_access(user=user, organization=organization, acting_user=None, reason=REASON)

    def portal_login(self, organization: Organization, user: User, password: str, role: str) -> None:
        """A portal login in ``role`` with a known password (the resident keeps their tags and sessions)."""
        membership = Membership.objects.get(user=user, organization=organization)
        if membership.role != role:
            membership_change_role(membership=membership, role=role, acting_user=None, reason=REASON)
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
