"""gunicorn settings of the web process (read by Procfile and Procfile.dev with `-c gunicorn.conf.py`;
gunicorn also reads this file by itself when started from the repository root).

- Access lines carry the request id the app gave the request (its X-Request-ID), as JSON lines
  with the app's own formatter when LOG_FORMAT is json (the production default).
- Several workers each count their own requests: prometheus_client's multiprocess mode has them
  write to files in PROMETHEUS_MULTIPROC_DIR, and a scrape of /metrics on any worker adds them up.
  Unset, a directory of this master's own is used; it is emptied when the master starts (counters
  of an earlier run would add to this one's), and `child_exit` lets a dead worker's gauges go.
"""
import glob
import os
import tempfile

# Before anything imports prometheus_client: it picks its single- or multiprocess values on import.
METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
    tempfile.gettempdir(), f"marketplace-metrics-{os.getpid()}")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR

from gunicorn import glogging  # noqa: E402
from prometheus_client import multiprocess  # noqa: E402

from marketplace.common.logs import AccessLogFields, JsonLines  # noqa: E402
from marketplace.config import config_from_env  # noqa: E402

access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def on_starting(server):
    os.makedirs(METRICS_DIR, exist_ok=True)
    for stale in glob.glob(os.path.join(METRICS_DIR, "*.db")):  # only the counters' files, nothing else there
        os.remove(stale)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)


class JsonLinesLogger(glogging.Logger):
    """gunicorn's own logger with the app's JSON lines; access records get their fields. Whether
    there is an access log at all stays the command line's choice (--access-logfile)."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonLines())
        for handler in self.access_log.handlers:
            handler.addFilter(AccessLogFields())


if (os.environ.get("LOG_FORMAT") or config_from_env().LOG_FORMAT) == "json":
    logger_class = JsonLinesLogger
