"""Data providers come from the `mocha_register_data_providers` hook (and, in a script, from
`register_data_provider`)."""

import types

import numpy as np
import pytest

from mocha import hookimpl
from mocha.core import registry as registry_module
from mocha.core.errors import DataError
from mocha.core.plugins import make_plugin_manager
from mocha.core.registry import build_registry
from mocha.experiment import providers


def _ramp():
    return {"x": np.arange(6.0).reshape(3, 2), "y": np.array([[0.0], [1.0], [2.0]])}


@pytest.fixture
def plugin_registry(monkeypatch):
    """The installed plugins plus one that registers the provider `test:ramp`."""
    module = types.ModuleType("providers_test")
    module.mocha_register_data_providers = hookimpl(
        lambda register: register(_ramp, name="test:ramp")
    )
    registry = build_registry(make_plugin_manager(extra_plugins=[("providers_test", module)]))
    monkeypatch.setattr(registry_module, "get_registry", lambda: registry)
    monkeypatch.setattr(providers, "_PROVIDERS", {})
    return registry


def test_a_provider_registered_through_the_hook_is_loaded(plugin_registry):
    assert "test:ramp" in providers.provider_names()
    assert "sklearn:digits" in providers.provider_names()  # the built-in plugin
    data, label = providers.load_provider("test:ramp", tops=("x", "y"))
    np.testing.assert_array_equal(data, np.arange(6.0).reshape(3, 2))
    assert data.dtype == np.float32 and label.shape == (3, 1)


def test_a_provider_registered_at_run_time_wins(plugin_registry):
    providers.register_data_provider(
        "test:ramp", lambda: {"x": np.zeros((2, 1)), "y": np.ones((2, 1))}
    )
    data, _ = providers.load_provider("test:ramp", tops=("x", "y"))
    assert data.shape == (2, 1) and not data.any()


def test_an_unknown_provider_names_the_known_ones(plugin_registry):
    with pytest.raises(
        DataError,
        match=r"unknown data source 'test:ramq'\. Did you mean "
        r"test:ramp\?.*sklearn:iris",
    ):
        providers.load_provider("test:ramq")
