"""Backend selection: names, the context manager, the environment variable, errors."""
import os
import subprocess
import sys

import pytest

import mlp
from mlp.backends import BACKENDS, Backend, get_backend, set_backend, use_backend


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_implements_the_whole_interface(name):
    backend = get_backend(name)
    assert isinstance(backend, Backend)
    assert backend.name == name
    assert not getattr(type(backend), "__abstractmethods__", ())


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_methods_have_the_base_signature(name):
    import inspect

    backend_class = type(get_backend(name))
    for method_name in Backend.__abstractmethods__:
        base = inspect.signature(getattr(Backend, method_name))
        implemented = inspect.signature(getattr(backend_class, method_name))
        assert list(implemented.parameters) == list(base.parameters), method_name
        for parameter in base.parameters.values():
            assert implemented.parameters[parameter.name].default == parameter.default, (
                method_name, parameter.name)


def test_default_is_cpu():
    assert get_backend().name == "cpu"


def test_use_backend_is_scoped_and_nests():
    with use_backend("reference") as backend:
        assert backend.name == "reference"
        assert mlp.get_backend().name == "reference"
        with use_backend("cpu"):
            assert mlp.get_backend().name == "cpu"
        assert mlp.get_backend().name == "reference"
    assert mlp.get_backend().name == "cpu"


def test_set_backend_changes_the_default(monkeypatch):
    import mlp.backends as registry

    # restore whatever default was active (MLP_BACKEND may select another backend)
    monkeypatch.setattr(registry, "_global_default", registry._global_default)
    set_backend("reference")
    assert get_backend().name == "reference"


@pytest.mark.parametrize("call", [get_backend, set_backend, lambda n: use_backend(n).__enter__()])
def test_unknown_backend_lists_the_valid_ones(call):
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'.*\['cpu', 'reference'"):
        call("tpu")


def test_environment_variable_selects_the_backend():
    code = "import mlp; print(mlp.get_backend().name)"
    env = dict(os.environ, MLP_BACKEND="reference")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "reference"


def test_bad_environment_variable_is_named_in_the_error():
    code = "import mlp; mlp.get_backend()"
    env = dict(os.environ, MLP_BACKEND="gpu9")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "MLP_BACKEND" in out.stderr and "gpu9" in out.stderr
