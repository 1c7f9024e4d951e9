"""Running tasks at the same moment, each in its own thread, application context, session and
database connection (the concurrency tests on PostgreSQL)."""
import threading
from concurrent.futures import ThreadPoolExecutor

from marketplace.errors import AppError
from marketplace.extensions import db


def run_together(app, tasks) -> list:
    """Run callables at once, released together by a barrier; each one's result or AppError."""
    barrier = threading.Barrier(len(tasks))

    def run(task):
        with app.app_context():
            barrier.wait()
            try:
                return task()
            except AppError as error:
                db.session.rollback()
                return error
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        return list(pool.map(run, tasks))
