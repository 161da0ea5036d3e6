"""gunicorn configuration for Portico (`gunicorn portal.wsgi -c gunicorn.conf.py`).

Defaults: one sync worker per core. Not yet chosen by measurement: `python -m bench.acs --workers N
--threads T` compares configurations; see docs/performance.md. Override with GUNICORN_WORKERS,
GUNICORN_THREADS, GUNICORN_BIND.
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30
accesslog = None
