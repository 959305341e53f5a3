"""Logs never carry secrets, as text or as JSON lines."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from twin.logs import JsonFormatter, RedactingFormatter, redact

SECRETISH = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="@/:"),
    min_size=8,
    max_size=40,
)


@given(SECRETISH)
def test_passwords_in_urls_are_masked(password: str) -> None:
    line = redact(f"cannot reach mqtt://twin:{password}@10.0.0.5:1883 (refused)")
    assert password not in line
    assert "mqtt://twin:***@10.0.0.5:1883" in line


def test_tokens_and_named_secrets_are_masked() -> None:
    token = "twin_ab12cd34ef_Zq9xYv8wUt7sRp6oNm5lKj4iHg3fEd2c"
    line = redact(f"Authorization: Bearer {token} password=hunter22 secret: s3cr3t!")
    for secret in (token, "hunter22", "s3cr3t!"):
        assert secret not in line
    assert redact("readings stored: 1200, spool empty") == "readings stored: 1200, spool empty"


def test_json_lines_are_json_and_redacted() -> None:
    record = logging.LogRecord(
        "twin.ingest",
        logging.WARNING,
        __file__,
        1,
        "store at %s down",
        ("postgresql://u:pw123456@db/x",),
        None,
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning" and entry["logger"] == "twin.ingest"
    assert entry["message"] == "store at postgresql://u:***@db/x down"
    assert entry["time"].endswith("Z")
    assert "pw123456" not in RedactingFormatter("%(message)s").format(record)
