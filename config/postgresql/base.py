"""Django's PostgreSQL backend, with a health check of a pooled connection that costs no round trip."""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        """Before a request's first query, closes a pooled connection that the server has ended (a new one is opened).

        Django's check is a `SELECT 1`, a round trip per request. A server that ends a backend (a restart, a
        crash, pg_terminate_backend) sends a message and closes the socket: between queries, an idle connection
        has nothing to read unless that happened. So one with anything to read, or not idle, is closed.
        """
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not _idle_and_quiet(self.connection.pgconn):
            self.close()
        self.health_check_done = True


def _idle_and_quiet(pgconn) -> bool:
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    return not poller.poll(0)
