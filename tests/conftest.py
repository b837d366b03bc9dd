"""Every test gets its own folder of shared random-init features (``SSRL_CACHE_DIR``): nothing
is written into the user's cache, and no test reads a floor another test computed."""

import pytest


@pytest.fixture(autouse=True)
def own_feature_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SSRL_CACHE_DIR", str(tmp_path_factory.mktemp("ssrl-cache")))
