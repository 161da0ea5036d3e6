"""Start-up checks for configurations that would quietly break tenancy or replay protection.

They run as Django system checks (`manage.py check`, runserver, migrate) and, for the production
server, from portal.wsgi before the first request (`startup_checks`): errors stop the process,
warnings are logged at ERROR level so they are not missed.

What can and cannot be detected (docs/deploy.md):
  * PgBouncer's pool mode is not visible from a client. Portico refuses the configuration the
    operator declares (PORTICO_DB_POOLER=pgbouncer-transaction) and the setting Django's own docs
    prescribe for transaction pooling (DISABLE_SERVER_SIDE_CURSORS), and warns on PgBouncer's
    default port 6432 when no pooler is declared.
  * The replay store's eviction policy is asked of Redis itself (CONFIG GET maxmemory-policy);
    where CONFIG is disabled (some managed Redis services) the check says it could not verify.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("portico.checks")

POOLERS = ("none", "django", "pgbouncer-session", "pgbouncer-transaction")
PGBOUNCER_PORT = 6432


def _db_pooler_problems() -> list[checks.CheckMessage]:
    pooler = settings.PORTICO_DB_POOLER
    db = settings.DATABASES["default"]
    if pooler not in POOLERS:
        return [checks.Error(f"PORTICO_DB_POOLER={pooler!r} is not one of {', '.join(POOLERS)}.", id="portico.E002")]
    if pooler == "pgbouncer-transaction":
        return [checks.Error(
            "PgBouncer in transaction mode is not supported: django-tenants sets each tenant's search_path once "
            "per connection, and transaction pooling hands that server connection to other clients, so requests "
            "read other tenants' rows.",
            hint="Use PgBouncer in session mode (PORTICO_DB_POOLER=pgbouncer-session) or Django's own pool "
                 "(PORTICO_DB_POOLER=django). See docs/deploy.md.", id="portico.E001")]
    if db.get("DISABLE_SERVER_SIDE_CURSORS"):
        return [checks.Error(
            "DISABLE_SERVER_SIDE_CURSORS is set, which Django prescribes for transaction-mode pooling; "
            "transaction pooling breaks django-tenants' per-connection search_path.",
            hint="Use PgBouncer in session mode or Django's pool (docs/deploy.md), and unset it.", id="portico.E003")]
    if pooler == "none" and str(db.get("PORT") or "") == str(PGBOUNCER_PORT):
        return [checks.Warning(
            f"DATABASE_URL uses port {PGBOUNCER_PORT}, PgBouncer's default, and no pooler is declared.",
            hint="If this is PgBouncer, it must run in session mode: set PORTICO_DB_POOLER=pgbouncer-session.",
            id="portico.W002")]
    return []


def _redis_db(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}", int(parts.path.lstrip("/") or 0)


def _replay_store_problems() -> list[checks.CheckMessage]:
    import redis

    problems: list[checks.CheckMessage] = []
    replay = _redis_db(settings.PORTICO_REPLAY_REDIS_URL)
    shared = {_redis_db(url) for url in (settings.REDIS_URL, settings.CELERY_BROKER_URL,
                                         settings.CELERY_RESULT_BACKEND, settings.PORTICO_RATELIMIT_REDIS_URL)
              if url.startswith("redis")}
    if replay in shared:
        problems.append(checks.Warning(
            "The SAML replay store shares a Redis database with the cache, broker, results or rate limits, "
            "so cache.clear() or FLUSHDB there drops its records.",
            hint="Point PORTICO_REPLAY_REDIS_URL at a database of its own.", id="portico.W003"))
    client = redis.Redis.from_url(settings.PORTICO_REPLAY_REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy", "")
    except redis.ResponseError as exc:
        problems.append(checks.Warning(
            f"Could not read the replay store's maxmemory-policy ({exc}).",
            hint="Make sure that Redis runs with maxmemory-policy noeviction.", id="portico.W004"))
        return problems
    except redis.RedisError as exc:
        problems.append(checks.Warning(
            f"The SAML replay store ({replay[0]} db {replay[1]}) did not answer: {type(exc).__name__}. "
            "Sign-ins are refused until it does.", id="portico.W005"))
        return problems
    finally:
        client.close()
    if policy != "noeviction":
        problems.append(checks.Warning(
            f"The SAML replay store's Redis evicts keys (maxmemory-policy {policy}): under memory pressure it "
            "drops replay records, and only the PostgreSQL copy still refuses a replayed response.",
            hint="Run that Redis with maxmemory-policy noeviction (docs/deploy.md).", id="portico.W001"))
    return problems


def _key_encryption_problems(*, deploy: bool) -> list[checks.CheckMessage]:
    import base64
    import binascii

    problems: list[checks.CheckMessage] = []
    for index, key in enumerate(k.strip() for k in settings.PORTICO_KEY_ENCRYPTION_KEYS):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, ValueError, UnicodeEncodeError):
            valid = False
        if not valid:
            problems.append(checks.Error(
                f"PORTICO_KEY_ENCRYPTION_KEYS entry {index + 1} is not a Fernet key (32 bytes, url-safe base64).",
                hint='Make one with: python -c "from cryptography.fernet import Fernet; '
                     'print(Fernet.generate_key().decode())"', id="portico.E004"))
    if deploy and not [k for k in settings.PORTICO_KEY_ENCRYPTION_KEYS if k.strip()]:
        problems.append(checks.Warning(
            "PORTICO_KEY_ENCRYPTION_KEYS is not set: tenants' SP private keys are encrypted with a key derived "
            "from SECRET_KEY, so changing SECRET_KEY makes them unreadable.",
            hint="Set PORTICO_KEY_ENCRYPTION_KEYS to a Fernet key kept apart from SECRET_KEY (docs/deploy.md).",
            id="portico.W006"))
    return problems


@checks.register("portico")
def key_encryption_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _key_encryption_problems(deploy=False)


@checks.register("portico", deploy=True)
def key_encryption_deploy_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [p for p in _key_encryption_problems(deploy=True) if not p.is_serious()]


@checks.register("portico")
def database_pooling_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _db_pooler_problems()


@checks.register("portico")
def replay_store_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _replay_store_problems()


def startup_checks() -> None:
    """For servers that do not run system checks (gunicorn): stop on errors, shout warnings."""
    problems = (_db_pooler_problems() + _replay_store_problems()
                + _key_encryption_problems(deploy=not settings.DEBUG))
    for problem in problems:
        log = logger.critical if problem.is_serious() else logger.error
        log("%s: %s %s", problem.id, problem.msg, problem.hint or "")
    errors = [p for p in problems if p.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{p.id}: {p.msg}" for p in errors))
