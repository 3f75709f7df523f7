"""Entity tags and Location on notices, and a cacheable JWKS (RFC 9110 §8.8.3, §10.2.2)."""

from __future__ import annotations

from tests.support.factories import World, notice_document


class TestNoticeValidators:
    def test_post_answers_location_and_etag_of_the_first_revision(self, world: World) -> None:
        response = world.client.post("/api/v1/notices", json=notice_document(),
                                     headers=world.headers("fra_fp"))
        assert response.status_code == 201
        notice_id = response.json()["id"]
        assert response.headers["location"] == f"/api/v1/notices/{notice_id}"
        assert response.headers["etag"] == '"1"'
        follow = world.client.get(response.headers["location"], headers=world.headers("fra_fp"))
        assert follow.status_code == 200 and follow.json()["id"] == notice_id

    def test_get_and_put_answer_the_current_revision_as_etag(self, world: World) -> None:
        notice = world.post_notice("fra_fp")
        url = f"/api/v1/notices/{notice['id']}"
        assert world.client.get(url, headers=world.headers("fra_fp")).headers["etag"] == '"1"'
        revised = world.client.put(url, json=notice_document(title="Revised"),
                                   headers={**world.headers("fra_fp"), "If-Match": '"1"'})
        assert revised.status_code == 200 and revised.headers["etag"] == '"2"'
        read = world.client.get(url, headers=world.headers("icc_inv"))
        assert read.headers["etag"] == '"2"'
        # The tag round-trips as If-Match: a stale one is a conflict, the current one is accepted.
        stale = world.client.put(url, json=notice_document(), headers={**world.headers("fra_fp"),
                                                                       "If-Match": '"1"'})
        assert stale.status_code == 409
        current = world.client.put(url, json=notice_document(), headers={**world.headers("fra_fp"),
                                                                         "If-Match": read.headers["etag"]})
        assert current.status_code == 200

    def test_a_notice_stays_uncacheable(self, world: World) -> None:
        notice = world.post_notice("fra_fp")
        response = world.client.get(f"/api/v1/notices/{notice['id']}", headers=world.headers("fra_fp"))
        assert response.headers["cache-control"] == "no-store"


class TestJwksCaching:
    def test_jwks_is_cacheable_for_a_minute(self, world: World) -> None:
        response = world.client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=60"
        assert [v for k, v in response.headers.multi_items() if k == "cache-control"] == [
            "public, max-age=60"]
