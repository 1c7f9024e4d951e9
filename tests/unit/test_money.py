"""Prices typed in yuan become exact integer fen; anything that is not a price is refused."""
import pytest

from marketplace.common.money import yuan_to_fen


@pytest.mark.parametrize(("typed", "fen"), [
    ("12.5", 1250), ("12.50", 1250), ("12", 1200), ("0.01", 1), ("0.1", 10), (" 69.80 ", 6980),
    ("１２．５", 1250), ("12。5", 1250), ("¥12.5", 1250), ("12.5元", 1250), ("100000", 10_000_000),
    ("0.29", 29), ("1.15", 115),  # 0.29 * 100 is 28.999... as a float
])
def test_yuan_become_exact_fen(typed, fen):
    assert yuan_to_fen(typed) == fen


@pytest.mark.parametrize("typed", ["", " ", "abc", "12a", "十二", "-5", "12.505", "1,200", "1e3", "12.", ".5",
                                   "0", "0.00", "12 .5", "nan", "inf"])
def test_anything_else_is_refused(typed):
    with pytest.raises(ValueError):
        yuan_to_fen(typed)
