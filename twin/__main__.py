"""``python -m twin`` is the ``twin`` command."""

from twin.cli import app

app()
