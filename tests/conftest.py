"""Root of the tests. Being a ``conftest.py`` outside a package, pytest puts this folder on ``sys.path``,
so the suites' helper modules can import the shared ones (``trainer_helpers.py``)."""
