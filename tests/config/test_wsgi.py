import gc
import importlib

import config.wsgi


def test_the_wsgi_application_freezes_what_it_loaded_so_full_collections_skip_it():
    gc.unfreeze()
    try:
        importlib.reload(config.wsgi)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
