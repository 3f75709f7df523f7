"""Recall of suspect search through the HTTP API over the labelled variant set
(tests/support/search_variants.py: 300+ identities, 1,000+ queries)."""

from __future__ import annotations

from collections import Counter

from tests.support.factories import World
from tests.support.search_variants import DISTRACTORS, IDENTITIES, VARIANTS, Variant, evaluate

POSTERS = ("fra_fp", "nld_fp", "deu_fp")


def _post_all(world: World) -> dict[tuple[str, str, str | None], str]:
    """Post identities and distractors, four subjects a notice; map what search returns to keys."""
    subjects = [(i.key, i.subject()) for i in IDENTITIES] + [(None, d) for d in DISTRACTORS]
    labels: dict[tuple[str, str, str | None], str] = {}
    for n, start in enumerate(range(0, len(subjects), 4)):
        batch = subjects[start:start + 4]
        notice = world.post_notice(POSTERS[n % len(POSTERS)], recipients=["ICC"],
                                   subjects=[s for _, s in batch])
        for key, subject in batch:
            if key:
                labels[(str(notice["id"]), str(subject["name"]), subject.get("birth_date"))] = key
    return labels


def test_variant_set_recall(world: World) -> None:
    # Every other labelled query (over 500) through HTTP: beyond one investigator's search rate.
    world.runtime.settings.search_rate_per_minute = 100_000
    world.runtime.settings.ip_rate_per_minute = 100_000
    labels = _post_all(world)

    def search(variant: Variant) -> list[str]:
        body = {"name": variant.query, "limit": 5}
        if variant.birth_date:
            body["birth_date"] = variant.birth_date
        response = world.client.post("/api/v1/search/subjects", json=body,
                                     headers=world.headers("icc_inv"))
        assert response.status_code == 200, response.text
        return [labels.get((m["notice_id"], m["subject"]["name"], m["subject"].get("birth_date")),
                           "distractor") for m in response.json()["matches"]]

    seen: Counter[str] = Counter()
    half = [v for v in VARIANTS if (seen.update([v.kind]) or seen[v.kind]) % 2 == 1]  # of each kind
    report = evaluate(search, half)
    print(f"\nrecall@3={report.recall_at_3:.3f} top1={report.top1:.3f} mrr={report.mrr:.3f} "
          f"top1(same name, birth date given)={report.disambiguated_top1:.3f} misses={report.misses}")
    # Issue 19's targets on the labelled set (bench/search.py measures them at scale, with the
    # plaintext baselines): recall@1 >= 0.92 overall, >= 0.85 transliterated, >= 0.99 with a date.
    kinds = report.by_kind
    assert report.top1 >= 0.92 and report.recall_at_3 >= 0.97, report.misses
    assert kinds["transliterated"].recall_at_1 >= 0.85
    assert kinds["with birth date"].recall_at_1 >= 0.99
    for kind in ("arabic compound", "arabic script", "persian", "p/b", "slavic forms",
                 "translit scheme", "accent-folded", "reordered", "respelled", "family"):
        assert kind in kinds and kinds[kind].recall_at_1 >= 0.9, (kind, kinds.get(kind))
    assert report.disambiguated_top1 == 1.0
