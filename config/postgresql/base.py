"""Django's PostgreSQL backend, with a health check of a pooled connection that costs no round trip while it is busy."""

import select
import time

from django.db.backends.postgresql import base
from psycopg import pq

# A connection quiet for longer is checked with Django's `SELECT 1`: a peer that vanished without closing the
# socket (a host crash, a flow a firewall dropped) leaves it quiet, and only a round trip finds that out.
QUIET_CHECK_SECONDS = 5


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checked_at = 0.0  # when the connection was last opened or checked (time.monotonic)

    def connect(self):
        super().connect()
        self.checked_at = time.monotonic()

    def close_if_health_check_failed(self):
        """Before a request's first query, closes a pooled connection that the server has ended (a new one is opened).

        Django's check is a `SELECT 1`, a round trip per request. A server that ends a backend (a restart, a
        crash of PostgreSQL, pg_terminate_backend) sends a message and closes the socket: an idle connection has
        nothing to read unless that happened. So one checked moments ago is closed if it has anything to read or
        is not idle; one quiet for longer gets Django's check.
        """
        if self.pool or self.connection is None or not self.health_check_enabled or self.health_check_done:
            return super().close_if_health_check_failed()
        now = time.monotonic()
        quiet_for, self.checked_at = now - self.checked_at, now
        if quiet_for > QUIET_CHECK_SECONDS:
            return super().close_if_health_check_failed()
        if not _idle_and_quiet(self.connection.pgconn):
            self.close()
        self.health_check_done = True


def _idle_and_quiet(pgconn) -> bool:
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    return not poller.poll(0)
