"""What usage tells the layers above it, without knowing them.

`hours_changed` is sent inside the transaction that stores records or upserts interactions,
with the outlet and the UTC hours they fall in: a receiver's writes commit or roll back with
them, and an error it raises undoes the batch. Analytics marks those hours dirty for its rollups.
"""

from django.dispatch import Signal

hours_changed = Signal()  # kwargs: outlet_id (UUID), hours (set of UTC datetimes on the hour)
