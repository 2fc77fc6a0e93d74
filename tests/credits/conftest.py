import pytest

from config.celery import app as celery_app


@pytest.fixture
def eager_tasks():
    """Tasks run in-process even where REDIS_URL names a broker (CI's second pass)."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
