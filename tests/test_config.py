"""Every setting is declared once in relance/config.py, with its environment variable and default: the README's
table lists every variable, the code reads no setting config.py does not declare, and the sending services get
theirs as one value (SendingConfig)."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import relance
from relance.config import load_config
from relance.services.sending.config import SendingConfig

ROOT = Path(relance.__file__).parent
README = (ROOT.parent / "README.md").read_text()


def test_the_readme_lists_every_environment_variable():
    variables = set(re.findall(r'"(RELANCE_[A-Z_]+)"', (ROOT / "config.py").read_text()))
    assert {"RELANCE_SEND_GROUP_SIZE", "RELANCE_LETTER_PROCESSES", "RELANCE_SMTP_CA_FILE"} <= variables
    table = set(re.findall(r"`(RELANCE_[A-Z_]+)`", README.split("## Configuration")[1].split("\n## ")[0]))
    assert variables - table == set(), "missing from the README's table"
    assert table - variables == set(), "in the README's table, read by nothing"


def test_the_code_reads_only_declared_settings(tmp_path):
    declared = set(load_config({"INSTANCE_PATH": str(tmp_path)}))
    read = set()
    for module in ROOT.rglob("*.py"):
        text = module.read_text()
        read |= set(re.findall(r'config\[\s*"([A-Z][A-Z0-9_]+)"\s*\]', text))
        read |= set(re.findall(r'config\.get\(\s*"([A-Z][A-Z0-9_]+)"', text))
    assert read and read <= declared, sorted(read - declared)


def test_the_sending_configuration_comes_from_the_app_config(tmp_path, monkeypatch):
    for name in [name for name in os.environ if name.startswith("RELANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RELANCE_SEND_GROUP_SIZE", "7")
    monkeypatch.setenv("RELANCE_SEND_CLAIM_TIMEOUT", "60")
    config = SendingConfig.from_config(load_config({"INSTANCE_PATH": str(tmp_path)}))
    assert (config.group_size, config.claim_timeout, config.max_attempts, config.letter_processes) == (7, 60, 8, 0)
    assert (config.heartbeat_seconds, config.stale_seconds, config.min_free_mb, config.outage_days) == (10, 120, 50, 2)
    assert config.files_path == tmp_path.resolve() / "files" and not config.smtp_configured
    assert config.smtp["OUTBOX_PATH"] == str(tmp_path.resolve() / "outbox")


def test_every_caller_in_relance_passes_its_sending_config():
    """create_reminder, send and run_auto fall back on the current app's configuration for the tests and benches
    only (sending.config.given): every call in relance/ passes `config`."""
    services = {("dunning", "create_reminder"), ("dunning", "send"), ("autorun", "run_auto")}
    calls = []
    for module in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            named = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                     and (func.value.id, func.attr) in services)
            local = isinstance(func, ast.Name) and (module.stem, func.id) in services
            if named or local:
                calls.append((f"{module.relative_to(ROOT.parent)}:{node.lineno}",
                              any(k.arg == "config" for k in node.keywords)))
    assert len(calls) >= 10
    assert [where for where, passed in calls if not passed] == []
