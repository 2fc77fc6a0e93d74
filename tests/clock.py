from datetime import timedelta
from unittest import mock

from django.utils import timezone


class Clock:
    """`timezone.now` as the code reads it, moved forward by hand, from the real time it starts at."""

    def __init__(self):
        self.now = timezone.now()
        self._patch = mock.patch("django.utils.timezone.now", lambda: self.now)

    def advance(self, **delta):
        self.now += timedelta(**delta)

    def __enter__(self):
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()
