"""The Unicode policy of user-typed text (issue 11, item 5): exactly ZWNJ, ZWJ, LRM, RLM and ALM among
the invisible characters, newline and tab in free text, everything else of its kind refused with a 422
naming the field; search strips them all, so a Persian name matches with or without its ZWNJ."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.notices.models import Notice
from app.unicode_policy import refused_character, strip_invisible
from tests.support.factories import World, assert_problem, notice_document

ALLOWED_FORMAT = {"ZWNJ": "\u200c", "ZWJ": "\u200d", "LRM": "\u200e", "RLM": "\u200f", "ALM": "\u061c"}
FREE_TEXT_ONLY = {"newline": "\n", "tab": "\t"}
# One row per class the policy refuses, with the characters the review found let through.
REFUSED = {
    "Cc NUL": "\x00", "Cc BEL": "\x07", "Cc lone CR": "\r", "Cc vertical tab": "\x0b", "Cc DEL": "\x7f",
    "Cc NEL": "\x85", "Cc C1 CSI": "\x9b",
    "Cf BOM": "\ufeff", "Cf word joiner": "\u2060", "Cf soft hyphen": "\u00ad",
    "Cf Mongolian vowel separator": "\u180e", "Cf ZWSP": "\u200b", "Cf LRE": "\u202a",
    "Cf RLO": "\u202e", "Cf LRI": "\u2066", "Cf PDI": "\u2069", "Cf function application": "\u2061",
    "Cf invisible plus": "\u2064", "Cf inhibit symmetric swapping": "\u206a",
    "Cf nominal digit shapes": "\u206f", "Cf interlinear annotation": "\ufff9",
    "Cf annotation terminator": "\ufffb", "Cf Arabic number sign": "\u0600",
    "Cf Kaithi number sign": "\U000110bd", "Cf musical begin beam": "\U0001d173",
    "Zl line separator": "\u2028", "Zp paragraph separator": "\u2029",
    "tag begin": "\U000e0001", "tag latin A": "\U000e0041", "tag cancel": "\U000e007f",
    "Hangul choseong filler": "\u115f", "Hangul jungseong filler": "\u1160",
    "Hangul filler": "\u3164", "halfwidth Hangul filler": "\uffa0",
    "combining grapheme joiner": "\u034f",
    "noncharacter FDD0": "\ufdd0", "noncharacter FFFE": "\ufffe", "noncharacter FFFF": "\uffff",
    "noncharacter 1FFFE": "\U0001fffe", "noncharacter 10FFFF": "\U0010ffff",
    "lone high surrogate": "\ud800", "lone low surrogate": "\udfff",
}
PERSIAN_ZWNJ = "زین\u200cالعابدین"
PERSIAN_JOINED = "زینالعابدین"


def send(world: World, method: str, path: str, body: dict[str, Any]) -> Any:
    # ensure_ascii: a lone surrogate travels as a JSON \\u escape, as a hostile client would send it.
    return world.client.request(method, path, content=json.dumps(body).encode(),
                                headers={**world.headers("fra_fp"),
                                         "Content-Type": "application/json"})


def fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem["errors"]}


class TestPolicyTable:
    @pytest.mark.parametrize("char", [*ALLOWED_FORMAT.values()], ids=[*ALLOWED_FORMAT])
    def test_allowed_format_characters_pass_everywhere(self, char: str) -> None:
        assert refused_character(f"a{char}b") is None
        assert refused_character(f"a{char}b", free_text=True) is None

    @pytest.mark.parametrize("char", [*FREE_TEXT_ONLY.values()], ids=[*FREE_TEXT_ONLY])
    def test_newline_and_tab_only_in_free_text(self, char: str) -> None:
        assert refused_character(f"a{char}b") == char
        assert refused_character(f"a{char}b", free_text=True) is None

    @pytest.mark.parametrize("char", [*REFUSED.values()], ids=[*REFUSED])
    def test_refused_everywhere(self, char: str) -> None:
        assert refused_character(f"a{char}b") == char
        assert refused_character(f"a{char}b", free_text=True) == char
        assert strip_invisible(f"a{char}b").replace(" ", "") == "ab"


class TestThroughTheApi:
    def test_each_class_is_refused_with_a_422_naming_the_field(self, world: World) -> None:
        for label, char in REFUSED.items():
            for where, field in (("name", "subjects[0].name"), ("narrative", "narrative"),
                                 ("description", "assets[0].description")):
                doc = notice_document()
                if where == "name":
                    doc["subjects"] = [{"name": f"Jean{char}Exemple"}]
                elif where == "narrative":
                    doc["narrative"] = f"line one{char}line two"
                else:
                    doc["assets"] = [{"type": "vehicle", "status": "frozen",
                                      "description": f"a{char}b"}]
                problem = assert_problem(send(world, "POST", "/api/v1/notices", doc), 422)
                assert fields(problem) == {field}, label
                assert "Exemple" not in json.dumps(problem)
            problem = assert_problem(send(world, "POST", "/api/v1/search/subjects",
                                          {"name": f"Jean{char}Exemple"}), 422)
            assert fields(problem) == {"name"}, label
        with world.runtime.db.unit_of_work() as session:
            assert session.query(Notice).count() == 0  # nothing half-written

    def test_allowed_characters_are_kept_and_free_text_keeps_lines(self, world: World) -> None:
        for char in ALLOWED_FORMAT.values():
            response = send(world, "POST", "/api/v1/notices",
                            notice_document(subjects=[{"name": f"{PERSIAN_ZWNJ} {char}Karimi"}]))
            assert response.status_code == 201, response.text
            assert response.json()["subjects"][0]["name"] == f"{PERSIAN_ZWNJ} {char}Karimi"
        response = send(world, "POST", "/api/v1/notices",
                        notice_document(narrative="first\r\nsecond\n\tindented",
                                        assets=[{"type": "vehicle", "status": "frozen",
                                                 "description": "red\ncar"}]))
        assert response.status_code == 201, response.text
        assert response.json()["narrative"] == "first\nsecond\n\tindented"
        problem = assert_problem(send(world, "POST", "/api/v1/notices",
                                      notice_document(title="two\nlines")), 422)
        assert fields(problem) == {"title"}

    @pytest.mark.parametrize(("stored", "typed"), [(PERSIAN_ZWNJ, PERSIAN_JOINED),
                                                   (PERSIAN_JOINED, PERSIAN_ZWNJ)])
    def test_persian_name_matches_with_or_without_its_zwnj(self, world: World, stored: str,
                                                           typed: str) -> None:
        posted = world.post_notice("fra_fp", subjects=[{"name": f"{stored} Karimi"}])
        response = send(world, "POST", "/api/v1/search/subjects", {"name": f"{typed} Karimi"})
        assert response.status_code == 200, response.text
        matches = response.json()["matches"]
        assert [m["notice_id"] for m in matches] == [posted["id"]]
        assert "name" in matches[0]["matched_on"]
