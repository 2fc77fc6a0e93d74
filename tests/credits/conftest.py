import pytest

from config.celery import app as celery_app
from tests.clock import Clock


@pytest.fixture
def eager_tasks():
    """Tasks run in-process even where REDIS_URL names a broker (CI's second pass)."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def clock():
    """`timezone.now` moved forward by hand: `clock.advance(minutes=5)`."""
    with Clock() as clock:
        yield clock
