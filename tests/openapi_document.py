"""Reading the OpenAPI document in tests: resolve a schema's $ref into components."""

from __future__ import annotations

from typing import Any


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` itself, or what its ``$ref`` points at."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def body_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    """The JSON body schema an operation documents."""
    operation = document["paths"][path][method]
    return resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
