"""Regenerate docs/indicateurs.md from the indicator catalogue.

Usage: python scripts/build_indicator_docs.py
"""

from __future__ import annotations

from pathlib import Path

from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.indicators.docs import render_dictionary

TARGET = Path(__file__).resolve().parents[1] / "docs" / "indicateurs.md"


def main() -> None:
    TARGET.write_text(render_dictionary(indicator_catalogue()), encoding="utf-8")
    print(f"{TARGET} écrit.")


if __name__ == "__main__":
    main()
