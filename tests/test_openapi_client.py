"""A client generated from the OpenAPI document by openapi-python-client signs in, posts, lists, reads, and
gets a typed problem for a 404 (issue 20: duplicate titles made it drop NoticeRead, problems were untyped).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from tests.support.factories import PASSWORD, World, notice_document

pytestmark = pytest.mark.slow
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def generated(world: World, tmp_path: Path) -> ModuleType:
    document = world.client.app.openapi()  # type: ignore[attr-defined]
    validate(document)
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    package = f"arx_client_{uuid.uuid4().hex[:8]}"
    # The generator knows no JSON-lines type (the FtM export): it reads it as raw bytes.
    config = tmp_path / "generator.json"
    config.write_text(json.dumps({"content_type_overrides": {
        "application/x-ndjson": "application/octet-stream"}}))
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(GENERATOR), "generate", "--path", str(spec), "--meta", "none",
                           "--config", str(config), "--output-path", str(tmp_path / package)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))


def api(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


class TestGeneratedClient:
    def test_every_error_response_names_the_one_problem_component(self, world: World) -> None:
        document = world.client.app.openapi()  # type: ignore[attr-defined]
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for status, response in operation["responses"].items():
                    if path == "/api/v1/auth/token" and status == "4XX":  # RFC 6749 errors there
                        schema = response["content"]["application/json"]["schema"]
                        assert schema == {"$ref": "#/components/schemas/OAuthErrorBody"}
                        continue
                    if int(status) >= 400:
                        schema = response["content"]["application/problem+json"]["schema"]
                        assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
        titles = [schema.get("title") for schema in document["components"]["schemas"].values()]
        assert len(titles) == len(set(titles))
        flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["password"]
        assert flow["tokenUrl"] == "/api/v1/auth/token"

    def test_sign_in_post_list_read_and_a_typed_404(self, world: World, generated: ModuleType) -> None:
        token_api = api(generated, "api.auth.issue_token_api_v1_auth_token_post")
        models = api(generated, "models")
        anonymous = generated.Client(base_url="https://testserver").set_httpx_client(world.client)
        token = token_api.sync(client=anonymous, body=models.BodyIssueTokenApiV1AuthTokenPost(
            username="fra_fp", password=PASSWORD))
        assert isinstance(token, models.TokenResponse) and token.token_type == "bearer"

        app = world.client.app
        with TestClient(app, base_url="https://testserver",
                        headers={"Authorization": f"Bearer {token.access_token}"}) as http:
            client = generated.AuthenticatedClient(base_url="https://testserver",
                                                   token=token.access_token).set_httpx_client(http)
            posted = api(generated, "api.notices.post_notice_api_v1_notices_post").sync(
                client=client, body=models.NoticeDocument.from_dict(notice_document(title="Generated")))
            assert isinstance(posted, models.NoticeRead) and posted.author_party == "FRA"

            listed = api(generated, "api.notices.list_notices_api_v1_notices_get").sync(client=client)
            assert isinstance(listed, models.NoticeList)
            assert [n.id for n in listed.items] == [posted.id]

            read = api(generated, "api.notices.get_notice_api_v1_notices_notice_id_get")
            got = read.sync(posted.id, client=client)
            assert isinstance(got, models.NoticeRead) and got.title == "Generated"
            assert got.subjects[0].name == "Jean-Pierre Exemple"

            missing = read.sync(str(uuid.uuid4()), client=client)
            assert isinstance(missing, models.Problem) and missing.status == 404
