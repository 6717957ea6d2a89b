"""Repository-wide pytest set-up: tests marked ``slow`` are skipped unless ``--slow`` is given
(or ``-m`` selects them), so the README's test command stays a few minutes long; CI runs
them too (``.ci/run``)."""
import pytest


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (the default suite skips them; CI runs them)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow") or "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="marked slow: run with --slow (or -m slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
