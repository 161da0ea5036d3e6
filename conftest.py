"""Loaded early by pytest: environment for the test run (tests use the real PostgreSQL and Redis)."""
import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside the live server
