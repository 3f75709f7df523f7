"""Recall of suspect search over the labelled variant set (tests/support/search_variants.py)."""

from __future__ import annotations

from tests.support.factories import World
from tests.support.search_variants import DISTRACTORS, IDENTITIES, Variant, evaluate

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

    report = evaluate(search)
    print(f"\nrecall@3={report.recall_at_3:.3f} top1={report.top1:.3f} "
          f"top1(same name, birth date given)={report.disambiguated_top1:.3f} misses={report.misses}")
    assert report.recall_at_3 >= 0.9
    assert report.disambiguated_top1 == 1.0
