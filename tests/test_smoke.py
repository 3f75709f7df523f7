from tests.conftest import World, assert_problem


def test_post_read_notice_round_trip(world: World) -> None:
    created = world.post_notice("fra_fp", recipients=["ICC"])
    got = world.client.get(f"/api/v1/notices/{created['id']}", headers=world.headers("icc_inv"))
    assert got.status_code == 200, got.text
    assert got.json()["subjects"][0]["name"] == "Jean-Pierre Exemple"
    hidden = world.client.get(f"/api/v1/notices/{created['id']}", headers=world.headers("nld_fp"))
    assert_problem(hidden, 404)
