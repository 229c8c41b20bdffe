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

    parser = OptionParserHandler().get_option_parser()
    options, _ = parser.parse_args(argv)
    config = ConsumerConfig(**{k: v for k, v in options.__dict__.items() if v is not None})
    config.validate()
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"relance worker: {exc}")
    tasks.init_app(app)
    config.setup_logger(logging.getLogger("huey"))
    consumer = tasks.huey.create_consumer(**config.values)
    consumer.run()


if __name__ == "__main__":
    main()
