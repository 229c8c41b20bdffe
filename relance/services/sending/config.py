"""What sending needs of the app's configuration (relance/config.py), as one frozen value passed in by the callers
(tasks, routes, CLI): `SendingConfig.from_config(current_app.config)` at the start of their work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

# the keys mailer.outbox_from_config reads
MAIL_KEYS = ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD", "SMTP_TIMEOUT", "SMTP_CA_FILE",
             "SMTP_ENVELOPE_FROM", "OUTBOX_PATH")


@dataclass(frozen=True)
class SendingConfig:
    files_path: Path  # FILES_PATH: the runs' merged letters PDFs
    mail_from: str  # MAIL_FROM: the sender when neither the settings nor the user give one
    smtp: Mapping[str, Any]  # MAIL_KEYS (read-only): the mail server, or the .eml outbox without SMTP_HOST
    group_size: int  # SEND_GROUP_SIZE: emails handed to the server per group (at most one group "in doubt")
    claim_timeout: int  # SEND_CLAIM_TIMEOUT: seconds after which a stopped worker's claim is taken again
    max_attempts: int  # SEND_MAX_ATTEMPTS: attempts before a temporary failure fails
    outage_days: float  # SEND_OUTAGE_DAYS: days an email waits for an unreachable mail server
    letter_processes: int  # LETTER_PROCESSES: processes printing a run's letters (0: one per CPU)
    heartbeat_seconds: int  # RUN_HEARTBEAT_SECONDS: between two heartbeats of a working run
    stale_seconds: int  # RUN_STALE_SECONDS: without a heartbeat, a run is taken over
    min_free_mb: int  # LETTERS_MIN_FREE_MB: free disk a letters batch needs before it starts
    public_url: str = ""  # PUBLIC_URL: how customers reach Relance (the links to their page); "": no link
    attachments_max_bytes: int = 10 * 1024 * 1024  # SEND_ATTACHMENTS_MAX_MB: an email for several invoices at most

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SendingConfig:
        return cls(
            files_path=Path(config["FILES_PATH"]), mail_from=config["MAIL_FROM"],
            smtp=MappingProxyType({key: config[key] for key in MAIL_KEYS}),
            group_size=max(1, int(config["SEND_GROUP_SIZE"])), claim_timeout=int(config["SEND_CLAIM_TIMEOUT"]),
            max_attempts=int(config["SEND_MAX_ATTEMPTS"]), outage_days=float(config["SEND_OUTAGE_DAYS"]),
            letter_processes=int(config["LETTER_PROCESSES"]),
            heartbeat_seconds=int(config["RUN_HEARTBEAT_SECONDS"]), stale_seconds=int(config["RUN_STALE_SECONDS"]),
            min_free_mb=int(config["LETTERS_MIN_FREE_MB"]), public_url=config["PUBLIC_URL"],
            attachments_max_bytes=int(config["SEND_ATTACHMENTS_MAX_MB"]) * 1024 * 1024,
        )

    @property
    def smtp_configured(self) -> bool:
        """A mail server is set (else emails are written to the outbox folder and never wait for a server)."""
        return bool(self.smtp["SMTP_HOST"])


def given(config: SendingConfig | None) -> SendingConfig:
    """`config`, else the current app's. The one place a sending service reads the app: a transition for callers
    outside relance/ (tests, benches); every caller in relance/ passes its own."""
    if config is not None:
        return config
    from flask import current_app

    return SendingConfig.from_config(current_app.config)
