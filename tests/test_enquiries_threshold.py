"""The "very similar name" threshold of strong matches, measured on the labelled variants.

Positives: each labelled variant against its identity. Near misses: each variant against every other
labelled person born the same day (the distractors are built to share tokens with the identities).
A strong match needs the birth date to agree as well, so only same-day near misses matter.
"""

from app.enquiries.matching import STRONG_NAME, strong_name
from app.search.normalise import name_form
from tests.support.search_variants import DISTRACTORS, IDENTITIES, VARIANTS

IDENTITY = {i.key: i for i in IDENTITIES}
PEOPLE = ([(i.key, [i.name, *i.aliases], i.birth_date) for i in IDENTITIES]
          + [(None, [d["name"]], d["birth_date"]) for d in DISTRACTORS])


def _strong(query: str, names: list[str]) -> bool:
    return any(strong_name(name_form(query), name_form(n)) for n in names)


def test_threshold_keeps_most_variants_and_few_same_day_near_misses() -> None:
    positives = [_strong(v.query, [IDENTITY[v.key].name, *IDENTITY[v.key].aliases])
                 for v in VARIANTS]
    near_misses = [_strong(v.query, names) for v in VARIANTS for key, names, born in PEOPLE
                   if key != v.key and born == IDENTITY[v.key].birth_date]
    recall = sum(positives) / len(positives)
    false_rate = sum(near_misses) / len(near_misses)
    assert STRONG_NAME == 0.90
    # Measured on the grown set of issue 19 (1,094 variants, 126 same-day near misses): recall 0.88
    # (958), near misses admitted 0.10 (13). On the first set of 87 it was 0.78 and 0.14.
    assert recall >= 0.85, recall
    assert false_rate <= 0.12, false_rate


def test_every_token_must_agree() -> None:
    # The search score alone ranks these near misses at 0.94 and more; a strong match refuses them.
    for query, other in [("Oleksandr Petrenko", "Oleksandr Petrov"),
                         ("Sergei Ivanov", "Sergei Ivanenko"),
                         ("Mohamed Ali Hassan", "Mohamed Ali Hussein"),
                         ("Zebulon Harrington", "Zebulon Quartermaine")]:
        assert not strong_name(name_form(query), name_form(other)), (query, other)
    for query, same in [("QUARTERMAINE, Zebulon", "Zebulon Quartermaine"),
                        ("Сергей Иванов", "Sergei Ivanov"),
                        ("Jose Manuel Rodriguez Pena", "José Manuel Rodríguez Peña")]:
        assert strong_name(name_form(query), name_form(same)), (query, same)
