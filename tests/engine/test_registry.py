"""RegistryBase and its typed registries: the OpenJarvis registry interface."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

from jarvis_tui.core.registry import ModelRegistry, RegistryBase, RouterPolicyRegistry
from jarvis_tui.core.types import ModelSpec


class ThingRegistry(RegistryBase[object]):
    """A registry of our own, so these tests never touch the shared ones."""


class OtherRegistry(RegistryBase[object]):
    """A second registry, to show the storage is per class."""


class SubThingRegistry(ThingRegistry):
    """A registry derived from another one: still a registry of its own."""


@pytest.fixture(autouse=True)
def _empty_test_registries() -> Iterator[None]:
    for reg in (ThingRegistry, OtherRegistry, SubThingRegistry):
        reg.clear()
    yield
    for reg in (ThingRegistry, OtherRegistry, SubThingRegistry):
        reg.clear()


@pytest.fixture
def saved_shared_registries() -> Iterator[None]:
    """Empty ModelRegistry and RouterPolicyRegistry for a test, then put back what was there."""
    saved = {reg: reg.items() for reg in (ModelRegistry, RouterPolicyRegistry)}
    for reg in saved:
        reg.clear()
    yield
    for reg, items in saved.items():
        reg.clear()
        for key, value in items:
            reg.register_value(key, value)


def test_register_decorator_returns_the_class_unchanged() -> None:
    @ThingRegistry.register("widget")
    class Widget:
        def __init__(self, size: int = 1, *, colour: str = "red") -> None:
            self.size, self.colour = size, colour

    assert ThingRegistry.get("widget") is Widget
    made = ThingRegistry.create("widget", 3, colour="blue")
    assert isinstance(made, Widget) and (made.size, made.colour) == (3, "blue")


def test_register_value_returns_the_value() -> None:
    value = {"any": "object"}
    assert ThingRegistry.register_value("v", value) is value
    assert ThingRegistry.get("v") is value


def test_keys_items_contains_keep_registration_order() -> None:
    for key in ("b", "a", "c"):
        ThingRegistry.register_value(key, key.upper())
    assert ThingRegistry.keys() == ("b", "a", "c")
    assert ThingRegistry.items() == (("b", "B"), ("a", "A"), ("c", "C"))
    assert ThingRegistry.contains("a")
    assert not ThingRegistry.contains("z")
    assert isinstance(ThingRegistry.keys(), tuple)  # a snapshot, not a live view


def test_duplicate_key_raises_value_error_and_keeps_the_first() -> None:
    ThingRegistry.register_value("k", 1)
    with pytest.raises(ValueError, match="already has an entry for 'k'"):
        ThingRegistry.register_value("k", 2)
    with pytest.raises(ValueError, match="ThingRegistry"):

        @ThingRegistry.register("k")
        class Again:
            pass

    assert ThingRegistry.get("k") == 1


def test_missing_key_raises_key_error_naming_the_available_keys() -> None:
    ThingRegistry.register_value("alpha", 1)
    ThingRegistry.register_value("beta", 2)
    with pytest.raises(KeyError) as info:
        ThingRegistry.get("gamma")
    message = str(info.value)
    assert "'gamma'" in message and "'alpha'" in message and "'beta'" in message
    with pytest.raises(KeyError, match="available: none"):
        OtherRegistry.get("gamma")
    with pytest.raises(KeyError):
        ThingRegistry.create("gamma")


def test_create_refuses_a_non_callable_entry() -> None:
    ThingRegistry.register_value("spec", 42)
    with pytest.raises(TypeError, match="not callable"):
        ThingRegistry.create("spec")


def test_register_without_a_key_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="keys are strings"):

        @ThingRegistry.register  # type: ignore[arg-type]  # forgot the key
        class Oops:
            pass

    with pytest.raises(TypeError):
        ThingRegistry.register_value(3, "x")  # type: ignore[arg-type]


def test_clear_empties_only_that_registry() -> None:
    ThingRegistry.register_value("a", 1)
    OtherRegistry.register_value("a", 2)
    ThingRegistry.clear()
    assert ThingRegistry.keys() == ()
    assert OtherRegistry.get("a") == 2
    ThingRegistry.register_value("a", 3)  # the key is free again
    assert ThingRegistry.get("a") == 3


def test_each_subclass_has_its_own_storage() -> None:
    ThingRegistry.register_value("x", 1)
    assert not OtherRegistry.contains("x")
    assert not SubThingRegistry.contains("x")
    SubThingRegistry.register_value("x", 2)  # no clash with the parent's "x"
    assert (ThingRegistry.get("x"), SubThingRegistry.get("x")) == (1, 2)


def test_concurrent_registration_loses_nothing() -> None:
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(200):
            ThingRegistry.register_value(f"{n}-{i}", i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ThingRegistry.keys()) == 8 * 200


def test_concurrent_duplicate_registration_has_exactly_one_winner() -> None:
    barrier = threading.Barrier(16)
    wins: list[int] = []
    losses: list[int] = []

    def work(n: int) -> None:
        barrier.wait()
        try:
            ThingRegistry.register_value("same", n)
            wins.append(n)
        except ValueError:
            losses.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 15
    assert ThingRegistry.get("same") == wins[0]


def test_model_registry_holds_model_specs(saved_shared_registries: None) -> None:
    spec = ModelSpec(
        model_id="qwen3:8b", name="Qwen3 8B", parameter_count_b=8.0, context_length=32768
    )
    ModelRegistry.register_value(spec.model_id, spec)
    assert ModelRegistry.get("qwen3:8b").parameter_count_b == 8.0
    assert ModelRegistry.keys() == ("qwen3:8b",)
    assert not RouterPolicyRegistry.contains("qwen3:8b")


def test_learning_policies_register_under_their_names(saved_shared_registries: None) -> None:
    from jarvis_tui.learning import bandit_router, heuristic_policy, trace_policy
    from jarvis_tui.learning.bandit_router import BanditRouterPolicy
    from jarvis_tui.learning.router import HeuristicRouter
    from jarvis_tui.learning.trace_policy import LearnedRouterPolicy, TraceDrivenPolicy

    for _ in range(2):  # idempotent
        heuristic_policy.ensure_registered()
        trace_policy.ensure_registered()
        bandit_router.ensure_registered()
    assert RouterPolicyRegistry.get("heuristic") is HeuristicRouter
    assert RouterPolicyRegistry.get("trace") is TraceDrivenPolicy
    assert RouterPolicyRegistry.get("learned") is LearnedRouterPolicy
    assert RouterPolicyRegistry.get("bandit") is BanditRouterPolicy
    assert isinstance(RouterPolicyRegistry.create("heuristic", ["a:1b"]), HeuristicRouter)
    assert isinstance(RouterPolicyRegistry.create("trace", min_samples=2), TraceDrivenPolicy)
    assert isinstance(RouterPolicyRegistry.create("bandit", seed=1), BanditRouterPolicy)


def test_importing_a_policy_module_registers_nothing(saved_shared_registries: None) -> None:
    import importlib

    import jarvis_tui.learning.heuristic_policy as hp

    importlib.reload(hp)
    assert not RouterPolicyRegistry.contains("heuristic")
