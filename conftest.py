"""The test run's environment, set before Django reads its settings.

pytest-django reads the settings in its pytest_load_initial_conftests hook, which runs *before*
pytest imports this file; so DJANGO_SETTINGS_MODULE is not in pyproject.toml but set here, after
the variables below, and pytest-django's pytest_configure then sets Django up. The Celery worker
and `manage.py` subprocesses the tests start inherit this environment.
"""
import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside the live server
os.environ.setdefault("SECRET_KEY", "portico-tests-only-secret-key-not-for-any-real-deployment")
# A queue of this run's own, so parallel runs (other worktrees) on one Redis never take each other's tasks.
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"portico-test-{os.getpid()}")
# No collectstatic in tests: WhiteNoise serves the apps' static folders.
os.environ.setdefault("PORTICO_STATIC_FROM_APPS", "true")
# All test clients come from 127.0.0.1: the rate-limit tests switch limits on where they are the point.
os.environ.setdefault("PORTICO_RATELIMIT_ENABLED", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402  (after the environment above, on purpose)
from django.conf import settings  # noqa: E402

settings.DATABASES  # noqa: B018  load the settings now, so pytest-django's pytest_configure sets Django up
django.setup()
