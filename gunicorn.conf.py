"""gunicorn configuration for Portico (`gunicorn portal.wsgi -c gunicorn.conf.py`).

Two sync workers per core, one thread each: chosen with `python -m bench.acs --workers W --threads T`
(docs/performance.md). A sign-in spends part of its time waiting on PostgreSQL and Redis round trips,
so a second process per core keeps the cores busy; threads did not help (signature checks and
template rendering hold the GIL) and their p99 was worse. Override with GUNICORN_WORKERS,
GUNICORN_THREADS, GUNICORN_BIND.
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30
accesslog = None
