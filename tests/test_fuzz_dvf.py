"""Fuzzing the DVF readers with mutated real headers and rows (bounded hypothesis runs).

Every mutation must end in one of two ways: a French error that names the line or the column,
or values read exactly; never a silent wrong number.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_file
from observatoire.errors import InputError
from observatoire.sources.registry import detect
from observatoire.sources.sniff import sniff

FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _lines(path: Path, n: int = 40) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [next(handle) for _ in range(n)]


def _read(path: Path):
    (file,) = sniff(path)
    reader, detection = detect(file)
    result = reader.read(file, detection)
    import pandas as pd

    return pd.concat(list(result.frames()), ignore_index=True)


@FUZZ
@given(column=st.integers(min_value=0, max_value=42))
def test_dropping_a_column_of_the_raw_dgfip_header_is_named(
    tmp_path: Path, shared_data: Path, column: int
) -> None:
    lines = _lines(shared_file(shared_data, "dvf/ValeursFoncieres2024_06000.txt"))
    cells = [line.rstrip("\r\n").split("|") for line in lines]
    name = cells[0][column]
    mutated = ["|".join(c[:column] + c[column + 1 :]) for c in cells]
    path = tmp_path / f"vf-{column}.txt"
    path.write_text("\r\n".join(mutated) + "\r\n", encoding="utf-8")
    try:
        frame = _read(path)
    except InputError as exc:
        text = str(exc)
        assert str(path) in text
        assert name.lower() in text.lower() or "colonne" in text or "séparateur" in text
    else:
        # Some columns are optional in the raw file (e.g. lot columns): then values still
        # equal the unmutated read for the columns that remain.
        assert name != "Valeur fonciere"  # the price itself can never be optional
        original = _read(shared_file(shared_data, "dvf/ValeursFoncieres2024_06000.txt"))
        assert len(frame) == len(lines) - 1
        expected = original["valeur_fonciere"].iloc[: len(frame)].to_numpy()
        assert (frame["valeur_fonciere"].to_numpy() == expected).all()


@FUZZ
@given(
    row=st.integers(min_value=1, max_value=39),
    garbage=st.sampled_from(["abc", "12,3,4", "--", "1e", "??"]),
)
def test_garbage_in_a_price_cell_is_an_error_with_line_and_column(
    tmp_path: Path, shared_data: Path, row: int, garbage: str
) -> None:
    lines = _lines(shared_file(shared_data, "dvf/ValeursFoncieres2024_06000.txt"))
    cells = [line.rstrip("\r\n").split("|") for line in lines]
    index = cells[0].index("Valeur fonciere")
    cells[row][index] = garbage
    path = tmp_path / f"vf-{row}.txt"
    path.write_text("\r\n".join("|".join(c) for c in cells) + "\r\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        _read(path)
    assert info.value.line == row + 1
    assert "valeur" in str(info.value).lower()
