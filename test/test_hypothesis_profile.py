"""Hypothesis runs derandomised under pytest (test/conftest.py's "ci" profile): the property tests draw the same
examples on every run, so a red CI build is reproducible and a green one is not luck of the draw."""
import importlib.util
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

TEST_DIR = Path(__file__).resolve().parent


def _draws() -> list:
    seen = []

    @settings(max_examples=25)
    @given(st.integers(min_value=0, max_value=10**9))
    def collect(x):
        seen.append(x)

    collect()
    return seen


def test_two_runs_draw_the_same_examples():
    assert settings.default.derandomize and settings.default.database is None
    first, second = _draws(), _draws()
    assert len(first) >= 10 and first == second


def _module(rel: str):
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], TEST_DIR / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_suites_property_tests_inherit_the_profile():
    """Their own @settings (max_examples, deadline) must not switch derandomisation back off."""
    found = 0
    for rel in ("panoptic/test_fuse_properties.py", "evaluation/test_pq.py"):
        mod = _module(rel)
        for name in dir(mod):
            inner = getattr(getattr(mod, name), "hypothesis", None)
            test_settings = getattr(getattr(mod, name), "_hypothesis_internal_use_settings", None)
            if inner is not None and test_settings is not None:
                assert test_settings.derandomize, f"{rel}::{name}"
                found += 1
    assert found >= 3
