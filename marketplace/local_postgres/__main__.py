"""python -m marketplace.local_postgres start|stop|status: the embedded PostgreSQL of a first run."""
import argparse
import sys
from pathlib import Path

from marketplace.config import INSTANCE_DIR
from marketplace.local_postgres import LocalPostgres, LocalPostgresError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marketplace.local_postgres",
                                     description="Start, stop or look at the embedded PostgreSQL of a first run.")
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--dir", type=Path, default=INSTANCE_DIR / "postgres",
                        help="the cluster's directory (default: instance/postgres)")
    args = parser.parse_args(argv)
    server = LocalPostgres(args.dir.resolve())
    try:
        if args.action == "start":
            server.start()
            print(f"embedded PostgreSQL running: {server.url()}")
        elif args.action == "stop":
            server.stop()
            print("embedded PostgreSQL stopped")
        else:
            running = server.is_running()
            print(f"{server.url()} {'running' if running else 'stopped'}")
            return 0 if running else 3
    except LocalPostgresError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
