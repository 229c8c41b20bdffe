"""`flask relance ...`: the command group; each area adds its commands in a module of this package."""

import importlib
import pkgutil

from flask.cli import AppGroup

relance_cli = AppGroup("relance", help="Relance commands.")


def load_commands() -> AppGroup:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return relance_cli
