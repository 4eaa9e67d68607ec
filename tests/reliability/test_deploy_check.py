"""Production settings pass Django's deployment checklist (issue 13): `manage.py check --deploy` with
csms.settings.production reports no issue, and the session and CSRF cookies are HTTPS-only there."""

import os
import secrets
import subprocess
import sys

from django.conf import settings

PRODUCTION = {"DJANGO_SETTINGS_MODULE": "csms.settings.production", "SECRET_KEY": secrets.token_urlsafe(48),
              "ALLOWED_HOSTS": "csms.example.se"}


def run(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION, "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)  # the check needs no database
    return subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean(tmp_path):
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_cookies_are_https_only_in_production(tmp_path):
    result = run("-c", "import django; django.setup(); from django.conf import settings as s; "
                 "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG, s.SECURE_HSTS_SECONDS > 0)",
                 tmp_path=tmp_path)
    assert result.stdout.split() == ["True", "True", "False", "True"], result.stderr


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    env_backup = dict(PRODUCTION)
    try:
        PRODUCTION["SECRET_KEY"] = "short"
        result = run("manage.py", "check", tmp_path=tmp_path)
    finally:
        PRODUCTION.update(env_backup)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
