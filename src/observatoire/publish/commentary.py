"""Factual commentary of a report chapter, generated from the figures by templates.

Every sentence is built from values of the indicator table (never invented): when a figure
is missing, secret or not comparable, its sentence is left out or says so. The verb follows
the sign of the figure (« progresse », « baisse », « est stable » under half the last shown
decimal), the comparison names the parent territory with a level noun (« dans le
département (Pas-de-Calais) »).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from observatoire.publish.fmt import fr_between, fr_number, fr_points, fr_value

LEVEL_PLACES = {
    "commune": "dans la commune",
    "epci": "dans l'intercommunalité",
    "departement": "dans le département",
    "region": "dans la région",
    "france": "en France",
    "custom": "dans le territoire",
}


@dataclass(frozen=True)
class Figure:
    """One value of the indicator table, as the commentary needs it."""

    indicator_id: str
    territory: str
    level: str
    period: str
    value: float | None
    status: str
    unit: str
    decimals: int

    @property
    def usable(self) -> bool:
        return self.value is not None and self.status in ("ok", "incomplete")


Lookup = Callable[[str, str | None], "Figure | None"]  # (indicator, territory key) → figure


def place(figure: Figure) -> str:
    """« dans le département (Pas-de-Calais) », « en France »."""
    noun = LEVEL_PLACES.get(figure.level, "dans")
    return noun if figure.level == "france" else f"{noun} ({figure.territory})"


def trend_verb(value: float, decimals: int, feminine: bool = True) -> str:
    if abs(value) < 0.5 * 10 ** (-decimals):
        return "est stable"
    return "progresse" if value > 0 else "baisse"


def _compare_word(value: float, other: float, decimals: int) -> str:
    """Compares the figures as printed (rounded), so the words never contradict them."""
    mine, theirs = round(value, decimals), round(other, decimals)
    if mine == theirs:
        return "au même niveau que"
    return "au-dessus de" if mine > theirs else "en dessous de"


def evolution_population(get: Lookup, parent: str | None) -> str | None:
    rate = get("tcam_population", None)
    if rate is None or not rate.usable:
        return None
    text = (
        f"La population {trend_verb(rate.value, 2)}"
        + (f" de {fr_number(abs(rate.value), 2)} % par an" if abs(rate.value) >= 0.005 else "")
        + f" {fr_between(rate.period)}"
    ).replace(" %", "\u00a0%")
    other = get("tcam_population", parent) if parent else None
    if other is not None and other.usable:
        verb = trend_verb(other.value, 2)
        amount = (
            f" de {fr_number(abs(other.value), 2)}\u00a0% par an"
            if abs(other.value) >= 0.005
            else ""
        )
        text += f", quand elle {verb}{amount} {place(other)}"
    return text + "."


def composantes(get: Lookup, parent: str | None) -> str | None:
    natural = get("taux_solde_naturel", None)
    migration = get("taux_solde_migratoire", None)
    if natural is None or migration is None or not (natural.usable and migration.usable):
        return None
    return (
        f"Entre {natural.period.replace('-', ' et ')}, le solde naturel contribue pour "
        f"{fr_points(natural.value, 2)} par an à l'évolution et le solde apparent des "
        f"entrées-sorties pour {fr_points(migration.value, 2)} par an."
    )


def _share_sentence(
    indicator: str, subject: str, get: Lookup, parent: str | None, suffix: str = ""
) -> str | None:
    figure = get(indicator, None)
    if figure is None or not figure.usable:
        return None
    shown = fr_value(figure.value, figure.unit, figure.decimals)
    text = f"{subject} {shown}{suffix} en {figure.period}"
    other = get(indicator, parent) if parent else None
    if other is not None and other.usable and other.status == "ok":
        text += (
            f", {_compare_word(figure.value, other.value, figure.decimals)} la valeur de "
            f"référence ({other.territory} : {fr_value(other.value, other.unit, other.decimals)})"
        )
    if figure.status == "incomplete":
        text += " (valeur partielle : au moins une commune membre sans donnée)"
    return text + "."


def vieillissement(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "part_65p",
        "Les personnes de 65 ans ou plus représentent",
        get,
        parent,
        " de la population",
    )


def vacance(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "part_logements_vacants",
        "Les logements vacants représentent",
        get,
        parent,
        " du parc",
    )


def proprietaires(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "part_proprietaires",
        "Les propriétaires occupent",
        get,
        parent,
        " des résidences principales",
    )


def chomage(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "taux_chomage_1564",
        "Le taux de chômage des 15-64 ans au sens du recensement s'établit à",
        get,
        parent,
    )


def concentration_emploi(get: Lookup, parent: str | None) -> str | None:
    figure = get("indicateur_concentration_emploi", None)
    if figure is None or not figure.usable:
        return None
    role = (
        "un pôle d'emploi (plus d'emplois que d'actifs occupés résidents)"
        if figure.value > 100
        else "une fonction plutôt résidentielle (moins d'emplois que d'actifs occupés résidents)"
    )
    return (
        f"Avec {fr_number(figure.value, 1)} emplois pour 100 actifs occupés résidents en "
        f"{figure.period}, le territoire est {role}."
    )


def revenu_median(get: Lookup, parent: str | None) -> str | None:
    figure = get("mediane_niveau_vie", None)
    other = get("mediane_niveau_vie", parent) if parent else None
    if figure is None:
        return None
    if figure.status == "non_additive":
        text = "La médiane du niveau de vie ne se calcule pas par agrégation des communes" + (
            " : l'INSEE la publie pour ce niveau, chargez le fichier Filosofi correspondant"
            if figure.level in ("epci", "departement", "region")
            else " : elle n'est pas disponible pour ce territoire"
        )
        if other is not None and other.usable:
            text += (
                f" ; elle est de {fr_value(other.value, other.unit, other.decimals)} en "
                f"{other.period} {place(other)}"
            )
        return text + "."
    return _share_sentence("mediane_niveau_vie", "La médiane du niveau de vie atteint", get, parent)


def pauvrete(get: Lookup, parent: str | None) -> str | None:
    figure = get("taux_pauvrete", None)
    if figure is not None and figure.status == "non_additive":
        return (
            "Le taux de pauvreté, non additif, n'est pas calculable pour un regroupement de "
            "communes (jamais une moyenne des taux communaux)."
        )
    return _share_sentence("taux_pauvrete", "Le taux de pauvreté s'élève à", get, parent)


def equipement(get: Lookup, parent: str | None) -> str | None:
    figure = get("taux_equipements", None)
    if figure is None or not figure.usable:
        return None
    text = (
        f"Le territoire compte {fr_number(figure.value, figure.decimals)} équipements pour "
        f"10\u202f000 habitants en {figure.period}"
    )
    other = get("taux_equipements", parent) if parent else None
    if other is not None and other.usable and other.status == "ok":
        text += (
            f", {_compare_word(figure.value, other.value, figure.decimals)} la valeur de "
            f"référence ({other.territory} : {fr_number(other.value, other.decimals)})"
        )
    return text + "."


def etablissements(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "part_etablissements_commerce_services",
        "Le commerce, les transports et les services divers regroupent",
        get,
        parent,
        " des établissements actifs",
    )


def prix_maisons(get: Lookup, parent: str | None) -> str | None:
    text = _share_sentence(
        "prix_m2_median_maison", "Le prix médian au m² des maisons vendues atteint", get, parent
    )
    change = get("evolution_prix_m2_maison", None)
    if text is None or change is None or not change.usable:
        return text
    price = get("prix_m2_median_maison", None)
    if price is None or change.period != price.period:
        return text
    amount = f" de {fr_number(abs(change.value), 1)}\u00a0%" if abs(change.value) >= 0.05 else ""
    # a median of different sales each year: « évolution du prix médian », not of prices
    return (
        text[:-1] + f" ; le prix médian {trend_verb(change.value, 1)}{amount} sur un an "
        "(la composition des ventes change d'une année à l'autre)."
    )


def prix_appartements(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "prix_m2_median_appartement",
        "Le prix médian au m² des appartements vendus atteint",
        get,
        parent,
    )


def accessibilite(get: Lookup, parent: str | None) -> str | None:
    return _share_sentence(
        "accessibilite_maison",
        "Une maison au prix médian représente",
        get,
        parent,
        " de niveau de vie médian",
    )


TEMPLATES: dict[str, Callable[[Lookup, str | None], str | None]] = {
    "evolution_population": evolution_population,
    "composantes": composantes,
    "vieillissement": vieillissement,
    "vacance": vacance,
    "proprietaires": proprietaires,
    "chomage": chomage,
    "concentration_emploi": concentration_emploi,
    "revenu_median": revenu_median,
    "pauvrete": pauvrete,
    "equipement": equipement,
    "etablissements": etablissements,
    "prix_maisons": prix_maisons,
    "prix_appartements": prix_appartements,
    "accessibilite": accessibilite,
}


def comment(names: list[str], get: Lookup, parent: str | None) -> list[str]:
    """The sentences of these templates that the figures allow."""
    sentences = []
    for name in names:
        sentence = TEMPLATES[name](get, parent)
        if sentence:
            sentences.append(sentence)
    return sentences
