"""Huey consumer for Relance: `python relance/worker.py -w 4` (or `python -m relance.worker`).

Same options as huey_consumer (-w workers, -k thread|greenlet|process, -v ...).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

if __name__ == "__main__" and sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script: don't let relance/*.py shadow top-level modules


def main(argv: list[str] | None = None) -> None:
    from huey.consumer_options import ConsumerConfig, OptionParserHandler

    from relance import create_app, tasks
    from relance.config import ConfigError
    from relance.extensions import db

    parser = OptionParserHandler().get_option_parser()
    options, _ = parser.parse_args(argv)
    config = ConsumerConfig(**{k: v for k, v in options.__dict__.items() if v is not None})
    config.validate()
    try:
        app = create_app()  # its queue: tasks.init_app, from the app's config
    except ConfigError as exc:
        sys.exit(f"relance worker: {exc}")
    config.setup_logger(logging.getLogger("huey"))
    with app.app_context():
        try:
            from relance.services import health

            health.beat(db.session, "started")  # then every minute (tasks.worker_heartbeat)
        except Exception as exc:  # noqa: BLE001 (the database may come later; /healthz will say so)
            logging.getLogger("huey").warning("relance worker: heartbeat not written: %s", exc)
    consumer = app.extensions["huey"].create_consumer(**config.values)
    try:  # runs left by a worker that was killed or restarted are taken up at once, not at the next minute
        tasks.watch_runs_now()
    except Exception:  # noqa: BLE001 (the queue or the database is down: the periodic watchdog tries again)
        logging.getLogger("huey").warning("could not queue the run watchdog at start", exc_info=True)
    consumer.run()


if __name__ == "__main__":
    main()
