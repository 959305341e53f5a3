"""Logging for people (a line each) or for log collectors (a JSON object each), never with
secrets: passwords in URLs, bearer tokens and `password=` values are masked on the way out,
whichever library wrote the message."""

from __future__ import annotations

import json
import logging
import re
import time

_SECRETS = (
    (re.compile(r"(\w+://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),  # scheme://user:password@
    (re.compile(r"\btwin_[A-Za-z0-9]+_[A-Za-z0-9_-]{8,}"), "twin_***"),  # API tokens
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1***"),
    (re.compile(r"(?i)\b(password|passwd|secret|token)(\s*[=:]\s*)\S+"), r"\1\2***"),
)


def redact(text: str) -> str:
    """``text`` with passwords, tokens and secrets masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(*, verbose: bool, json_lines: bool) -> None:
    """Log to stderr at INFO (``verbose``) or WARNING, as text or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
