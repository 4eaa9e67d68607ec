"""Error rate: which sessions count as failed (pure rules, tables and hypothesis) and the hourly recomputation
for every station."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from charging import reliability
from charging.models import ChargePoint, ChargingSession
from charging.services.stations import charge_points_update_error_rates
from charging.tasks import update_error_rates_task
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "stop_reason", "failed"), [
    ("completed", "Local", False),
    ("completed", "EVDisconnected", False),
    ("completed", "Remote", False),
    ("completed", "SoftReset", False),
    ("completed", "", False),
    ("active", "", False),
    ("failed", "Rebooted", True),
    ("failed", "", True),
    ("completed", "EmergencyStop", True),
    ("completed", "PowerLoss", True),
    ("completed", "Reboot", True),
    ("completed", "HardReset", True),
    ("completed", "GroundFault", True),
    ("completed", "OvercurrentFault", True),
    ("completed", "ImmediateReset", True),
])
def test_which_sessions_count_as_failed(status, stop_reason, failed):
    assert reliability.is_failed(status=status, stop_reason=stop_reason) is failed


def test_the_failed_status_is_the_session_models():
    assert reliability.FAILED_STATUS == ChargingSession.Status.FAILED


@pytest.mark.parametrize(("failed", "total", "rate"), [
    (0, 0, None),
    (0, 7, Decimal("0.0000")),
    (7, 7, Decimal("1.0000")),
    (1, 8, Decimal("0.1250")),
    (1, 3, Decimal("0.3333")),
    (2, 3, Decimal("0.6667")),
    (1, 16, Decimal("0.0625")),
    (1, 160000, Decimal("0.0000")),
    (1, 20000, Decimal("0.0001")),  # 0.00005 rounds half up
])
def test_error_rate_has_four_decimals_rounded_half_up(failed, total, rate):
    assert reliability.error_rate(failed, total) == rate
    if rate is not None:
        assert rate.as_tuple().exponent == -4


@pytest.mark.parametrize(("failed", "total"), [(3, 2), (-1, 2), (0, -1)])
def test_impossible_counts_are_refused(failed, total):
    with pytest.raises(ValueError, match="Cannot take"):
        reliability.error_rate(failed, total)


@given(st.integers(min_value=1, max_value=10**7).flatmap(
    lambda total: st.tuples(st.integers(min_value=0, max_value=total), st.just(total))))
def test_the_rate_is_a_share_within_half_a_unit_of_the_last_place(counts):
    failed, total = counts
    rate = reliability.error_rate(failed, total)
    assert Decimal(0) <= rate <= Decimal(1)
    assert abs(rate - Decimal(failed) / Decimal(total)) <= Decimal("0.00005")


@pytest.mark.django_db
def test_error_rates_are_recomputed_from_the_last_30_days():
    busy, quiet, idle = ChargePointFactory(), ChargePointFactory(), ChargePointFactory()
    day = timedelta(days=1)
    for started, status, reason in [
        (NOW - 1 * day, "completed", "Local"),
        (NOW - 2 * day, "completed", "EVDisconnected"),
        (NOW - 3 * day, "failed", "Rebooted"),
        (NOW - 4 * day, "completed", "PowerLoss"),
        (NOW - 29 * day, "completed", "Remote"),
        (NOW - 31 * day, "failed", "Rebooted"),  # too old to count
    ]:
        ChargingSessionFactory(charge_point=busy, started_at=started, status=status, stop_reason=reason)
    ChargingSessionFactory(charge_point=quiet, started_at=NOW - day)
    ChargingSessionFactory(charge_point=idle, started_at=NOW - 40 * day, status="failed")
    ChargePoint.objects.filter(pk=idle.pk).update(sessions_30d=5, failed_sessions_30d=1, error_rate=Decimal("0.2"))

    assert charge_points_update_error_rates(now=NOW) == 3

    figures = {pk: (s, f, r) for pk, s, f, r in ChargePoint.objects.values_list(
        "pk", "sessions_30d", "failed_sessions_30d", "error_rate")}
    assert figures[busy.pk] == (5, 2, Decimal("0.4000"))
    assert figures[quiet.pk] == (1, 0, Decimal("0.0000"))
    assert figures[idle.pk] == (0, 0, None)
    assert charge_points_update_error_rates(now=NOW) == 0  # nothing changed: nothing written


@pytest.mark.django_db
def test_the_recomputation_costs_the_same_queries_for_many_stations(django_assert_max_num_queries):
    for charge_point in ChargePointFactory.create_batch(300):
        ChargingSessionFactory(charge_point=charge_point, started_at=NOW - timedelta(hours=5), status="failed")
    with django_assert_max_num_queries(6):
        assert charge_points_update_error_rates(now=NOW) == 300
    assert set(ChargePoint.objects.values_list("error_rate", flat=True)) == {Decimal("1.0000")}


@pytest.mark.django_db
def test_the_hourly_task_reads_the_clock():
    charge_point = ChargePointFactory()
    ChargingSessionFactory(charge_point=charge_point, started_at=timezone.now() - timedelta(days=2),
                           status="completed", stop_reason="EmergencyStop")
    assert update_error_rates_task.delay().get() == 1
    charge_point.refresh_from_db()
    assert (charge_point.sessions_30d, charge_point.failed_sessions_30d, charge_point.error_rate) == (
        1, 1, Decimal("1.0000"))
