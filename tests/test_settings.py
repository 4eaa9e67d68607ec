"""The production settings pass Django's deployment checks and refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "csms.settings.production",
    "SECRET_KEY": "k3y-" + "x9Q2" * 15,
    "ALLOWED_HOSTS": "csms.example.com",
}


def _manage(*args, env_extra, tmp_path):
    dropped = {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"DATA_DIR": str(tmp_path), **env_extra})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_check_deploy_reports_no_issues_with_production_settings(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_extra=PRODUCTION_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [("SECRET_KEY", "SECRET_KEY"), ("ALLOWED_HOSTS", "ALLOWED_HOSTS")],
    ids=["no-secret-key", "no-allowed-hosts"],
)
def test_production_refuses_to_start_without_required_settings(tmp_path, missing, message):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env_extra=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_the_embedded_default_needs_no_servers(tmp_path):
    code = ("from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], "
            "s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_BROKER_URL)")
    env_clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=ROOT,
                            env={**env_clean, "DATA_DIR": str(tmp_path)}, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "csms.channel_layers.SweepingInMemoryChannelLayer",
                                     "filesystem://"]
    assert (tmp_path / "secret_key").exists()


def test_chargers_keep_their_command_group_for_as_long_as_they_stay_connected(settings):
    # The channel layers' own default (one day) would drop a week-long connection from "cp.<id>".
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["group_expiry"] >= 365 * 24 * 3600
