"""The shared range and choice checks that experiment configs validate their fields with."""

from dataclasses import dataclass

import pytest

from ctflow.harness.config import check_choices, check_fields


@dataclass
class _Config:
    steps: int = 10
    lr: float = 1e-3
    warmup: int = 0
    split: float = 0.2
    kinds: tuple[str, ...] = ("a",)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("steps", 0, "steps must be >= 1, got 0"),
        ("lr", 0.0, "lr must be > 0, got 0.0"),
        ("lr", float("nan"), "lr must be > 0, got nan"),
        ("warmup", -1, "warmup must be >= 0, got -1"),
        ("split", 1.0, r"split must be in \(0, 1\), got 1.0"),
    ],
)
def test_check_fields_names_the_field_out_of_range(field, value, message):
    config = _Config(**{field: value})
    with pytest.raises(ValueError, match=message):
        check_fields(
            config, at_least_one="steps", positive="lr", non_negative="warmup", fractions="split"
        )


def test_check_fields_accepts_valid_values():
    check_fields(_Config(), at_least_one="steps", positive="lr", non_negative="warmup")


def test_check_choices():
    check_choices(_Config(kinds=("a", "b")), "kinds", ("a", "b"))
    with pytest.raises(ValueError, match="unknown kind 'c' in kinds; choose from: a, b"):
        check_choices(_Config(kinds=("a", "c")), "kinds", ("a", "b"), "kind")
    with pytest.raises(ValueError, match="unknown kinds None"):
        check_choices(_Config(kinds=()), "kinds", ("a", "b"))
