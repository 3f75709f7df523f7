"""OpenAPI declarations every route shares: the RFC 9457 problem responses (CONTRACT.md status codes)."""

import re
from typing import Any

from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor

from app.errors import PROBLEM_JSON


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document as app/errors.py renders it."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


# One component referenced by every error response, so generated clients get one typed error model.
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_COMPONENTS = {"Problem": Problem.model_json_schema(ref_template="#/components/schemas/{model}"),
               "FieldError": FieldError.model_json_schema()}
_COMPONENTS["Problem"].pop("$defs", None)

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "No or bad credentials",
    403: "The caller's role may not do this",
    404: "Absent, or not visible to the caller",
    409: "Conflict with the current state",
    413: "Request body too large",
    422: "Invalid input",
    429: "Rate limited; retry after the given number of seconds",
}


def _response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _DESCRIPTIONS[status],
                                "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "Seconds to wait", "required": True,
                                               "schema": {"type": "integer", "minimum": 1}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    return response


# Declared on every router (create_app): the middleware, the auth dependency, validation and the rate
# limiter can answer any of these on any route, so each is a documented response everywhere.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {status: _response(status) for status in _DESCRIPTIONS}


def with_problem_components(document: dict[str, Any]) -> dict[str, Any]:
    """Add the Problem schema the error responses refer to (FastAPI only adds models routes return)."""
    document.setdefault("components", {}).setdefault("schemas", {}).update(_COMPONENTS)
    return document


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_Table = list[tuple[re.Pattern[str], dict[str, tuple[frozenset[str], bool]]]]


class _Alpha3(Convertor[str]):
    """A State's party code segment ({party:alpha3}): routing and the published schema agree."""

    regex = "[A-Z]{3}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _UuidStr(_Alpha3):
    """A canonical UUID segment kept as text ({contact_id:uuid_str})."""

    regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# /legislation/{party:alpha3} leaves /legislation/compare to its own route (PUT there is a 405, not a
# profile named "compare"); /directory/{contact_id:uuid_str} likewise leaves /directory/stale alone.
ALPHA3 = _Alpha3.regex
UUID_STR = _UuidStr.regex
register_url_convertor("alpha3", _Alpha3())
register_url_convertor("uuid_str", _UuidStr())


def _segment(operations: dict[str, Any], name: str) -> str:
    """The regex of path parameter name: its declared pattern, else any segment."""
    for operation in operations.values():
        for p in operation.get("parameters", []) if isinstance(operation, dict) else []:
            if p.get("in") == "path" and p.get("name") == name and "pattern" in p.get("schema", {}):
                return str(p["schema"]["pattern"]).removeprefix("^").removesuffix("$")
    return "[^/]+"


def _template_regex(template: str, operations: dict[str, Any]) -> re.Pattern[str]:
    parts = re.split(r"\{([^/{}]+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?:{_segment(operations, part)})"
                    for i, part in enumerate(parts))
    return re.compile("^" + regex + "$")


def _operations(app: Any) -> _Table:
    """(path pattern, {METHOD: (declared query parameter names, needs a token)}) for every path."""
    table = getattr(app.state, "operation_table", None)
    if table is None:
        # Built once from the routes' own OpenAPI description (available with the docs turned off too).
        table = [(_template_regex(template, operations),
                  {method.upper(): (frozenset(p["name"] for p in operation.get("parameters", [])
                                              if p.get("in") == "query"), bool(operation.get("security")))
                   for method, operation in operations.items() if method in _HTTP_METHODS})
                 for template, operations in app.openapi()["paths"].items()]
        app.state.operation_table = table
    return table


def allowed_methods(app: Any, path: str) -> str | None:
    """The `Allow` header for a path (RFC 9110: a 405 must list every method the resource supports)."""
    methods = sorted({m for pattern, ops in _operations(app) if pattern.match(path) for m in ops})
    return ", ".join(methods) or None


def declared_query(app: Any, method: str, path: str) -> tuple[frozenset[str], bool] | None:
    """(query parameters the schema declares, whether a token is needed); None if undocumented."""
    for pattern, ops in _operations(app):
        if pattern.match(path) and method in ops:
            return ops[method]
    return None
