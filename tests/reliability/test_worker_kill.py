"""A Celery worker killed in the middle of the monthly invoice run (issue 13): tasks are acknowledged only when they
have run, so the run goes back to the queue and a new worker finishes it — every resident invoiced exactly once,
numbers without gaps — and the invoices whose e-mail the dead worker never queued are found by the periodic
send-unsent-invoices job: every invoice e-mailed exactly once. A real worker process with a Redis broker of the
test's own (visibility timeout 3 s, looked for every second) on the test database, killed with SIGKILL after its
first batch committed.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery import Celery
from django.utils import timezone

from accounts.models import Membership, User
from billing.models import Invoice, SessionCost
from billing.services.session_pricing import session_price
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargingSession
from tests.accounts.factories import OperatorFactory, OrganizationFactory
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory
from tests.conftest import _database_url
from tests.servers import ROOT, running_redis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
RESIDENTS = 120
BATCH = 20  # the worker's INVOICE_RUN_BATCH: six transactions, so there is a middle to kill it in


@pytest.fixture
def broker():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with running_redis(binary) as url:
        yield url


def residents_who_charged(period_start):
    """RESIDENTS residents of one association, each with a priced session in the month of ``period_start``."""
    OperatorFactory(name="Laddnät Norden AB")
    org = OrganizationFactory(name="BRF Omstarten")
    point = ChargePointFactory(organization=org, location=LocationFactory(organization=org))
    evse = EvseFactory(charge_point=point, evse_id=1)
    since = period_start - timedelta(days=60)
    tariff = tariff_create(organization=org, name="Boende", currency="SEK", energy_price_ac=Decimal("4.00"),
                           acting_user=None, reason="test", now=since)
    tariff_assign(tariff=tariff, charge_point=point, valid_from=since, acting_user=None, reason="test", now=since)
    users = User.objects.bulk_create(User(email=f"boende{n}@omstarten.example", first_name="Boende", last_name=str(n))
                                     for n in range(RESIDENTS))
    Membership.objects.bulk_create(Membership(user=user, organization=org, role=Membership.Role.RESIDENT)
                                   for user in users)
    started = period_start + timedelta(days=3, hours=18)
    sessions = ChargingSession.objects.bulk_create(ChargingSession(
        charge_point=point, evse=evse, organization=org, user=user, started_at=started,
        stopped_at=started + timedelta(hours=3), meter_start_wh=0, meter_stop_wh=10_000, energy_wh=10_000,
        status=ChargingSession.Status.COMPLETED, transaction_id=str(n)) for n, user in enumerate(users))
    # Every session is alike: the first is priced by the service, the others get the same price.
    first = session_price(session=sessions[0], now=timezone.now())
    SessionCost.objects.bulk_create(SessionCost(
        session=session, currency=first.currency, energy_wh=first.energy_wh, total_excl_vat=first.total_excl_vat,
        total_vat=first.total_vat, total_incl_vat=first.total_incl_vat, lines=first.lines, priced_at=first.priced_at)
        for session in sessions[1:])
    return org


def start_worker(broker: str, log) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": broker, "CELERY_VISIBILITY_TIMEOUT": "3",
           "CELERY_UNACKED_RESTORE_SECONDS": "1",
           "CELERY_TASK_ALWAYS_EAGER": "false", "EMAIL_URL": "consolemail://", "CONN_MAX_AGE": "0",
           "INVOICE_RUN_BATCH": str(BATCH), "INVOICE_UNSENT_AFTER_MINUTES": "0",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "csms", "worker", "--pool", "solo",
                             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_run_leaves_every_resident_invoiced_once(broker, tmp_path):
    today = timezone.localdate()
    period_end = today.replace(day=1) - timedelta(days=1)
    period_start = timezone.make_aware(timezone.datetime(period_end.year, period_end.month, 1))
    org = residents_who_charged(period_start)
    log_path = tmp_path / "worker.log"
    workers = []
    try:
        with log_path.open("w") as log:
            workers.append(start_worker(broker, log))
            Celery(broker=broker).send_task("billing.tasks.invoice_run_task",
                                            args=[f"{period_end.year}-{period_end.month:02d}"])
            deadline = time.monotonic() + 120
            while not Invoice.objects.filter(organization=org).exists():  # the first batch has committed
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                assert workers[0].poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.02)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            killed_at = Invoice.objects.filter(organization=org).count()
            assert 0 < killed_at < RESIDENTS, "the worker was killed after the run, not in it"

            workers.append(start_worker(broker, log))
            deadline = time.monotonic() + 120
            while Invoice.objects.filter(organization=org).count() < RESIDENTS:
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
            # The sends the dead worker had not queued yet are found by the periodic job, as beat would run it.
            Celery(broker=broker).send_task("billing.tasks.send_unsent_invoices_task")
            deadline = time.monotonic() + 180
            while (Invoice.objects.filter(organization=org).count() < RESIDENTS
                   or Invoice.objects.filter(organization=org, sent_at__isnull=True).exists()):
                assert time.monotonic() < deadline, (Invoice.objects.filter(organization=org).count(),
                                                     log_path.read_text()[-3000:])
                time.sleep(0.5)
            time.sleep(2)  # anything still queued would now show as a second invoice or e-mail
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(20)
    invoices = Invoice.objects.filter(organization=org)
    assert invoices.count() == RESIDENTS
    assert invoices.values("buyer").distinct().count() == RESIDENTS
    numbers = sorted(invoices.values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + RESIDENTS))  # gapless
    sent = log_path.read_text().count("Subject: ")
    assert sent == RESIDENTS, f"{sent} invoice e-mails for {RESIDENTS} invoices"
    print(f"worker killed after {killed_at} of {RESIDENTS} invoices; the run finished on a new worker: "
          f"{RESIDENTS} invoices, numbers {numbers[0]}–{numbers[-1]}, {sent} e-mails")

