"""GET /notices pages stop at a byte budget (ARX_MAX_PAGE_BYTES), continuing through next_cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.audit.record import Action
from tests.support.factories import World

BUDGET = 300_000


def page(world: World, cursor: str | None = None) -> tuple[int, dict[str, Any]]:
    params: dict[str, object] = {"limit": 100}
    if cursor:
        params["cursor"] = cursor
    response = world.client.get("/api/v1/notices", params=params, headers=world.headers("nld_fp"))
    assert response.status_code == 200, response.text
    return len(response.content), response.json()


class TestPageByteBudget:
    def test_large_notices_are_paged_by_size_and_all_reached_through_the_cursor(
            self, world: World) -> None:
        world.runtime.settings.max_page_bytes = BUDGET
        posted = [world.post_notice("fra_fp", recipients=["NLD"], title=f"large {i}",
                                    narrative="é" * 50_000)["id"]
                  for i in range(5)]  # about 100 kB of JSON each (é is two bytes)
        seen: list[object] = []
        sizes, cursor = [], None
        while True:
            size, body = page(world, cursor)
            sizes.append((size, len(body["items"])))
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == posted[::-1]  # newest first, nothing lost or repeated
        assert all(size <= BUDGET for size, _ in sizes) and max(n for _, n in sizes) == 2
        with world.runtime.db.unit_of_work() as session:
            listed = session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == str(Action.NOTICE_LIST), AuditEntry.object_id.is_not(None)))
        assert listed == 5  # only what was returned is audited as listed

    def test_a_notice_larger_than_the_budget_comes_alone(self, world: World) -> None:
        world.runtime.settings.max_page_bytes = 30_000
        small = world.post_notice("fra_fp", recipients=["NLD"])["id"]
        large = world.post_notice("fra_fp", recipients=["NLD"], narrative="y" * 50_000)["id"]
        _, first = page(world)
        assert [i["id"] for i in first["items"]] == [large]
        _, second = page(world, first["next_cursor"])
        assert [i["id"] for i in second["items"]] == [small]
        assert second["next_cursor"] is None

    def test_the_default_budget_leaves_ordinary_pages_whole(self, world: World) -> None:
        assert world.runtime.settings.max_page_bytes == 4 * 1024 * 1024
        posted = [world.post_notice("fra_fp", recipients=["NLD"])["id"] for _ in range(3)]
        _, body = page(world)
        assert [i["id"] for i in body["items"]] == posted[::-1]
        assert body["next_cursor"] is None
