"""The indicator dictionary (``docs/indicateurs.md``), generated from the catalogue."""

from __future__ import annotations

from observatoire.indicators.catalogue import Expression, Indicator, IndicatorCatalogue

KIND_LABELS = {
    "count": "effectif — somme sur les communes membres",
    "ratio": "ratio — Σ numérateur / Σ dénominateur sur les communes membres",
    "growth": "évolution entre deux millésimes (nombre exact d'années)",
    "derived": "calculé à partir d'autres indicateurs, après agrégation",
    "non_additive": (
        "non additif — chiffre de la source au niveau du territoire, sinon statut "
        "« non_additive » (jamais une moyenne)"
    ),
}
POLARITY_LABELS = {
    "positive": "une hausse est favorable",
    "negative": "une baisse est favorable",
    "neutral": "neutre",
}
SOURCE_LABELS = {
    "rp": "INSEE, recensement de la population (bases communales, comparateur)",
    "filosofi": "INSEE, Filosofi",
    "bpe": "INSEE, base permanente des équipements",
    "population_legale": "INSEE, populations légales",
    "lovac": "Cerema pour la DGALN, LOVAC (logements vacants du parc privé, fichier communal)",
    "dvf": "DGFiP, demandes de valeurs foncières (DVF ; Etalab géolocalisées ou fichier brut), "
    "ventes nettoyées par l'Observatoire (règles de diagnostics.yaml)",
}
MEASURE_LABELS = {
    "rate": "taux annuel moyen ((S1/S0)^(1/n) − 1) × 100",
    "change": "variation absolue S1 − S0",
    "flow_rate": "flux / (n × population moyenne logarithmique)",
}


def _expr(alternatives: tuple[Expression, ...]) -> str:
    texts = []
    for alternative in alternatives:
        parts = []
        for n, term in enumerate(alternative):
            sign = "−" if term.sign < 0 else "+"
            parts.append(
                f"`{term.pattern}`" if n == 0 and term.sign > 0 else f"{sign} `{term.pattern}`"
            )
        texts.append(" ".join(parts))
    return " ; sinon ".join(texts)


def _formula(ind: Indicator) -> str:
    scale = f" × {ind.scale:g}" if ind.scale != 1 else ""
    if ind.kind in ("count", "non_additive"):
        return _expr(ind.value)
    if ind.kind == "ratio":
        return f"({_expr(ind.numerator)}) / ({_expr(ind.denominator)}){scale}"
    if ind.kind == "growth":
        text = f"{MEASURE_LABELS[ind.measure]} de {_expr(ind.stock)}"
        if ind.flow:
            text += f", flux {_expr(ind.flow)}{scale}"
        return text
    return f"`{ind.expression}`"


def render_dictionary(catalogue: IndicatorCatalogue) -> str:
    """Markdown dictionary of every indicator, by theme."""
    lines = [
        "# Dictionnaire des indicateurs",
        "",
        "Généré à partir du catalogue (`src/observatoire/catalogue/indicateurs/*.yaml`) par",
        "`python scripts/build_indicator_docs.py` : ne pas modifier à la main.",
        "",
        f"{len(catalogue.indicators)} indicateurs. Repères de millésime : `{{aa}}` = année du",
        "chiffre sur deux chiffres (`P{aa}_LOG` → `P18_LOG`), `{p}` = période entre deux",
        "recensements (`NAIS{p}` → `NAIS1318`). Une liste « sinon » donne les variantes selon",
        "le millésime (la première dont les variables existent est utilisée).",
        "",
        "Statuts d'une valeur : `ok` ; `secret` (non diffusé par la source ou sous le seuil) ;",
        "`incomplete` (une commune membre est secrète, manquante ou issue d'une scission : un",
        "taux ou un ratio porte sur les autres communes, un total n'est pas donné — ce serait",
        "un sous-compte) ; `non_additive` (médiane, décile, taux de pauvreté d'un territoire",
        "que la source ne publie pas) ; `missing` (aucune donnée, ou ratio à dénominateur nul).",
        "",
        "« Diffusion restreinte » : indicateur déclaré `restreint` ou lisant un jeu d'une source",
        "marquée `restreint` dans `sources.yaml` (LOVAC) — hors du site statique, servi avec un",
        "jeton d'accès ; présent dans les exports de l'agence.",
        "",
    ]
    for theme, indicators in catalogue.by_theme():
        lines += [f"## {theme.label}", ""]
        for ind in indicators:
            lines += [
                f"### {ind.label} (`{ind.id}`)",
                "",
                ind.definition,
                "",
                f"- Unité : {ind.unit} ; polarité : {POLARITY_LABELS[ind.polarity]}",
                f"- Nature : {KIND_LABELS[ind.kind]}",
                f"- Formule : {_formula(ind)}",
                f"- Source : {SOURCE_LABELS[ind.source]}",
                f"- Secret et précautions : {ind.secrecy}",
            ]
            if ind.threshold:
                term, minimum = ind.threshold
                lines.append(f"- Seuil : « secret » si Σ `{term.pattern}` < {minimum:g}")
            if ind.kind == "non_additive":
                lines.append(f"- Niveaux publiés par la source : {', '.join(ind.levels)}")
            if ind.restricted:
                lines.append(f"- Diffusion restreinte : {ind.restriction}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
