import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken, Membership, Organization, User, UserGroup
from accounts.tenancy import is_operator_staff
from charging.models import ChargePoint

pytestmark = pytest.mark.django_db


def test_demo_data_loads_once_and_reruns_change_nothing(settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    call_command("load_demo_data")
    first = capsys.readouterr().out
    counts = [m.objects.count() for m in (Organization, User, Membership, IdToken, UserGroup, AuditLogEntry)]

    call_command("load_demo_data")
    second = capsys.readouterr().out

    assert [m.objects.count() for m in (Organization, User, Membership, IdToken, UserGroup, AuditLogEntry)] == counts
    solrosen = Organization.objects.get(slug="brf-solrosen")
    assert Membership.objects.filter(organization=solrosen).count() == 30
    assert IdToken.objects.filter(organization=solrosen, user__isnull=False).count() == 30
    assert UserGroup.objects.filter(organization=solrosen).count() == 2
    names = list(ChargePoint.objects.filter(organization=solrosen).order_by("display_name").values_list(
        "display_name", flat=True))
    assert names == [f"Laddplats {n:02d}" for n in range(1, 13)]
    assert is_operator_staff(User.objects.get(email="admin@example.com"))
    password = (tmp_path / "demo-admin-password").read_text()
    assert f"admin@example.com / {password}" in first
    assert first == second
    assert User.objects.get(email="admin@example.com").check_password(password)


def test_demo_stations_have_prices_an_access_schedule_and_operations_set_up(settings, tmp_path):
    from datetime import datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from billing.selectors import tariff_at
    from charging.models import MaintenancePlan, NotificationGroup
    from charging.selectors.access import charge_point_mode as mode_at

    settings.DATA_DIR = tmp_path
    call_command("load_demo_data")
    guest_station, resident_station = (ChargePoint.objects.get(display_name=name)
                                       for name in ("Laddplats 12", "Laddplats 01"))
    now = timezone.now()
    def price(station):
        return tariff_at(charge_point=station, evse=None, driver=None, at=now).tariff.energy_price_ac

    assert (price(resident_station), price(guest_station)) == (Decimal("2.50"), Decimal("4.50"))
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert (mode_at(guest_station, tuesday_noon), mode_at(guest_station, saturday_noon)) == ("private", "public")
    assert MaintenancePlan.objects.count() == 12
    assert NotificationGroup.objects.count() == 2
