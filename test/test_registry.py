"""Registry: lookup errors list the names; built-ins keep the order of their modules whatever was imported first
(the generated parameters file and the CLI choices must not depend on import order)."""
import sys
import types

import pytest

from panoptic_ros.registry import Choices, Registry


def test_builtin_order_does_not_depend_on_import_order(monkeypatch):
    registry = Registry("thing", ("fake_first", "fake_second"))
    for name in ("fake_first", "fake_second"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))

    def make(module, name):
        return type(name, (), {"name": name, "__module__": module})

    registry.register(obj=make("fake_second", "b1"))       # the second module happened to be imported first
    registry.register(obj=make("plugin", "p"))
    registry.register(obj=make("fake_first", "a1"))
    registry.register(obj=make("fake_first", "a2"))
    assert registry.names() == ("a1", "a2", "b1", "p")
    assert list(Choices(registry, ("auto",))) == ["auto", "a1", "a2", "b1", "p"]
    assert registry[0] == "a1" and "p" in registry and len(registry) == 4
    with pytest.raises(ValueError, match="unknown thing 'x'; choose one of a1, a2, b1, p"):
        registry.get("x")
    with pytest.raises(ValueError, match="registered already"):
        registry.register("a1", obj=make("other", "a1"))
    registry.unregister("p")
    assert "p" not in registry
