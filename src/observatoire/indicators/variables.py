"""Variables the readers produce, to check the catalogue names nothing that cannot exist.

- census and comparateur (``insee_rp``): every generic variable of ``rp_dictionary.yaml``
  (built from INSEE's own variable dictionaries);
- Filosofi communal files: :data:`observatoire.sources.filosofi.COM_VARIABLES`;
- BPE: ``BPE_TOT``, ``BPE_DOM_<domain>``, ``BPE_GAMME_<gamme>`` and ``BPE_<TYPEQU>`` for the
  types of ``bpe_types.yaml``;
- legal populations: ``PMUN``;
- LOVAC communal file: :data:`observatoire.sources.lovac.VARIABLES` (lower case, as the file's
  columns: ``pp_vacant``, ``pp_vacant_plus_2ans``, ``ff_pp_total``, ``pp_total``);
- DVF market figures: :data:`observatoire.indicators.market.VARIABLES`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import yaml

from observatoire.indicators.catalogue import IndicatorCatalogue
from observatoire.indicators.market import VARIABLES as MARKET_VARIABLES
from observatoire.sources.bpe import bpe_catalogue
from observatoire.sources.filosofi import COM_VARIABLES
from observatoire.sources.lovac import VARIABLES as LOVAC_VARIABLES

BPE_GAMMES = ("PROXIMITE", "INTERMEDIAIRE", "SUPERIEURE")


@cache
def known_variables() -> dict[str, str]:
    """Generic variable → where it comes from (French, for messages)."""
    known: dict[str, str] = {}
    text = (files("observatoire") / "catalogue" / "rp_dictionary.yaml").read_text(encoding="utf-8")
    for theme, spec in yaml.safe_load(text)["themes"].items():
        for entry in spec["variables"]:
            known.setdefault(str(entry["var"]), f"recensement ({theme})")
    for name in COM_VARIABLES:
        known.setdefault(name, "Filosofi")
    bpe = bpe_catalogue()
    known["BPE_TOT"] = "BPE"
    for letter in bpe.get("domaines") or {}:
        known[f"BPE_DOM_{letter}"] = "BPE"
    for gamme in BPE_GAMMES:
        known[f"BPE_GAMME_{gamme}"] = "BPE (table des gammes)"
    for entry in bpe["millesimes"].values():
        for code in entry.get("types") or {}:
            known[f"BPE_{code}"] = "BPE"
    known["PMUN"] = "populations légales"
    for name in LOVAC_VARIABLES:
        known[name] = "LOVAC (Cerema)"
    for name in MARKET_VARIABLES:
        known[name] = "DVF (marché, après nettoyage)"
    return known


def unknown_variables(catalogue: IndicatorCatalogue) -> list[tuple[str, str]]:
    """(indicator id, column pattern) for every variable no reader produces."""
    known = known_variables()
    problems = []
    for ind in catalogue.indicators.values():
        for group in (ind.value, ind.numerator, ind.denominator, ind.stock, ind.flow):
            for alternative in group:
                for term in alternative:
                    if term.generic not in known:
                        problems.append((ind.id, term.pattern))
        if ind.threshold and ind.threshold[0].generic not in known:
            problems.append((ind.id, ind.threshold[0].pattern))
    return problems
