"""Start-up checks for configurations that would quietly break tenancy or replay protection.

They run as Django system checks (`manage.py check`, runserver, migrate) and, for the production
server, from portal.wsgi before the first request (`startup_checks`): errors stop the process,
warnings are logged at ERROR level so they are not missed.

What can and cannot be detected (docs/deploy.md):
  * PgBouncer's pool mode is not announced to a client. Portico refuses the configuration the
    operator declares (PORTICO_DB_POOLER=pgbouncer-transaction) and the setting Django's own docs
    prescribe for transaction pooling (DISABLE_SERVER_SIDE_CURSORS), warns on PgBouncer's default
    port 6432 when no pooler is declared, and at start probes for the symptom itself
    (`session_state_shared_check`): a session setting made on one client connection must not be
    seen by another, nor lost by its own. Transaction and statement pooling show both.
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


def _probe_connect_kwargs() -> dict:
    db = settings.DATABASES["default"]
    # Plain libpq connections to what Django would connect to, outside Django's own pool (if any).
    options = {key: value for key, value in (db.get("OPTIONS") or {}).items()
               if key not in {"pool", "isolation_level", "server_side_binding", "assume_role"}}
    return {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None, "port": db.get("PORT") or None, "connect_timeout": 5,
            "autocommit": True, **options}


def _session_state_problems() -> list[checks.CheckMessage]:
    """Two client connections: A sets a session variable, then B and A read it. A real server
    session (no pooler, Django's pool, PgBouncer in session mode) shows A its value and B nothing.
    A transaction-mode pooler hands A's server connection to B's next statement (PgBouncer reuses
    the server it released last), so B sees A's value; that is django-tenants' search_path going to
    another request."""
    import secrets

    import psycopg

    token = secrets.token_hex(8)
    kwargs = _probe_connect_kwargs()
    try:
        with psycopg.connect(**kwargs) as first, psycopg.connect(**kwargs) as second:
            first.execute("SELECT set_config('portico.pool_probe', %s, false)", [token])
            read = "SELECT current_setting('portico.pool_probe', true)"
            seen_by_other = (second.execute(read).fetchone() or [None])[0]
            kept = (first.execute(read).fetchone() or [None])[0]
    except psycopg.Error as exc:
        if "pooling mode" in str(exc):  # PgBouncer's statement mode refuses the probe outright
            seen_by_other, kept = token, None
        else:
            return [checks.Warning(f"Could not probe the database connection for shared session state: "
                                   f"{type(exc).__name__}.", id="portico.W007")]
    if seen_by_other == token or kept != token:
        return [checks.Error(
            "The database connection does not keep session state: a setting made on one client connection "
            "was seen by another (or lost by its own), which is what PgBouncer in transaction or statement mode "
            "does. django-tenants' search_path would then go to other requests, which would read other "
            "tenants' rows.",
            hint="Run PgBouncer with pool_mode = session, or use Django's pool (PORTICO_DB_POOLER=django). "
                 "See docs/deploy.md.", id="portico.E006")]
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


def _dns_resolver_problems() -> list[checks.CheckMessage]:
    from tenants.domain_verification import resolvers_parse

    try:
        resolvers_parse(settings.PORTICO_DNS_RESOLVERS)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="Leave it empty for the system's resolvers.", id="portico.E005")]
    return []


@checks.register("portico")
def dns_resolvers_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _dns_resolver_problems()


@checks.register("portico")
def key_encryption_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _key_encryption_problems(deploy=False)


@checks.register("portico", deploy=True)
def key_encryption_deploy_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [p for p in _key_encryption_problems(deploy=True) if not p.is_serious()]


@checks.register("portico")
def database_pooling_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _db_pooler_problems()


@checks.register("portico", checks.Tags.database)
def session_state_shared_check(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    # Like Django's own database checks: only when asked (`check --database default`, migrate).
    return _session_state_problems() if databases and "default" in databases else []


@checks.register("portico")
def replay_store_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _replay_store_problems()


def startup_checks() -> None:
    """For servers that do not run system checks (gunicorn): stop on errors, shout warnings."""
    problems = _db_pooler_problems()
    if not any(p.is_serious() for p in problems):  # a declared unsafe pooler is refused already
        problems += _session_state_problems()
    problems += (_replay_store_problems() + _dns_resolver_problems()
                 + _key_encryption_problems(deploy=not settings.DEBUG))
    for problem in problems:
        log = logger.critical if problem.is_serious() else logger.error
        log("%s: %s %s", problem.id, problem.msg, problem.hint or "")
    errors = [p for p in problems if p.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{p.id}: {p.msg}" for p in errors))
