import pytest
from django.core.management import call_command

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
