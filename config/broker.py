"""kombu's Redis transport, where a channel outliving its closed connection fails as a connection error.

kombu 5.7 (with Celery 5.7): when the broker goes away while a task is in flight, the worker
collects the lost connection, which detaches the transport from it, and then closes its
channels; a channel closing (restoring its unacknowledged message) or the finished task's ack
then builds a new Redis client from the detached transport and raises AttributeError
("'NoneType' object has no attribute 'hostname'"). Celery catches only connection errors
there, so the worker exited. Raised as a connection error, it is handled as one: logged, and
the worker reconnects; the unacknowledged message stays in Redis for redelivery.
"""

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.ConnectionError("The broker connection was closed under this channel.")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
