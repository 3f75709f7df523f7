"""Search is no oracle on notices the caller cannot see (issue 11, item 1): adding many invisible
notices that share the probed names and tokens changes nothing in any answer, byte for byte."""

from __future__ import annotations

from typing import Any

from app.search import service
from tests.support.factories import World

API = "/api/v1/search/subjects"
FIRST_NAMES = ["Rudolf", "Amira", "Boris", "Chen", "Dilnoza", "Emeka", "Farida", "Gulnara", "Hamid",
               "Ilse", "Jurgen", "Kamila"]

# What the attacker (FRA) can see: its own notices and one NLD shares with it.
VISIBLE = [
    ("fra_fp", ["ICC"], [{"name": "Ravindra Qasimov", "birth_date": "1971-03-09", "nationality": "AZE"},
                         {"name": "Rudolf Qasimov"}, {"name": "Ravindra Mehta"}]),
    ("nld_fp", ["FRA"], [{"name": "Ravindra Kasimov", "nationality": "AZE",
                          "identifiers": [{"scheme": "passport", "value": "AZ-55 1234"}]},
                         {"name": "Ilse Qasimova"}]),
]
PROBES: list[dict[str, Any]] = [
    {"name": "Ravindra Qasimov"}, {"name": "Qasimov"}, {"name": "Ravindra"},
    {"name": "Qasimov Ravindra", "birth_date": "1971-03-09", "nationality": "AZE"},
    {"name": "Rudolf Qasimov", "limit": 1}, {"name": "Ravindra Qasimov", "limit": 2},
    {"name": "AZ551234"}, {"name": "Rawindra Kasimow"}, {"name": "- , ."},
    {"name": "Ravindra Qasimov", "nationality": "XXX"},
]


def _hidden_subjects(n: int) -> list[dict[str, Any]]:
    """Copies of the probed name and its tokens under many first names, identifiers included."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        first = "Ravindra" if i % 2 else FIRST_NAMES[i % len(FIRST_NAMES)]
        subject: dict[str, Any] = {"name": f"{first} Qasimov", "nationality": "AZE",
                                   "birth_date": "1971-03-09"}
        if i % 10 == 0:
            subject["identifiers"] = [{"scheme": "passport", "value": "AZ-55 1234"}]
        out.append(subject)
    return out


def _answers(world: World) -> list[tuple[int, bytes]]:
    service._term_counts = service._TermCounts()  # count afresh: a cached count would hide a change
    out = []
    for probe in PROBES:
        response = world.client.post(API, json=probe, headers=world.headers("fra_fp"))
        out.append((response.status_code, response.content))
    return out


class TestInvisibleNoticesChangeNothing:
    def test_answers_are_byte_identical_with_many_hidden_namesakes(self, world: World) -> None:
        for who, recipients, subjects in VISIBLE:
            world.post_notice(who, recipients=recipients, subjects=subjects)
        before = _answers(world)
        assert [status for status, _ in before].count(200) == len(PROBES) - 2
        assert b"Rudolf Qasimov" in before[1][1]  # a visible subject found through one token only

        # RED to the Court and AMBER to NLD: nothing FRA may read. Far more rows per probed term
        # than the search's row budget, so a platform-wide count would drop those terms.
        for n in range(8):
            world.post_notice("deu_fp", recipients=["ICC"] if n % 2 else ["NLD"],
                              tlp="RED" if n % 2 else "AMBER", subjects=_hidden_subjects(200))
        after = _answers(world)
        assert after == before

    def test_the_hidden_namesakes_are_there_for_those_who_may_see_them(self, world: World) -> None:
        world.post_notice("deu_fp", recipients=["ICC"], tlp="RED", subjects=_hidden_subjects(200))
        found = world.client.post(API, json={"name": "Ravindra Qasimov"},
                                  headers=world.headers("icc_inv")).json()["matches"]
        assert found and all(m["subject"]["name"].endswith("Qasimov") for m in found)
        assert world.client.post(API, json={"name": "Ravindra Qasimov"},
                                 headers=world.headers("fra_fp")).json()["matches"] == []
