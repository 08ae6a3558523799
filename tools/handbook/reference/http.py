"""HTTP API reference: the gateway's OpenAPI document rendered as a static page.

No Swagger UI and no script from a CDN: every path, method, parameter, request
and response schema, status code and response header is written out as
Markdown. Operations sit at `anchors.http_operation(method, path)` and schemas
at `anchors.http_schema(name)`.
"""

from __future__ import annotations

from typing import Any

from handbook import anchors
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot

PAGE = anchors.HTTP_PAGE
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CONSTRAINTS = {
    "minimum": "≥ {}",
    "maximum": "≤ {}",
    "exclusiveMinimum": "> {}",
    "exclusiveMaximum": "< {}",
    "minLength": "length ≥ {}",
    "maxLength": "length ≤ {}",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "pattern": "matches {}",
    "format": "format {}",
}


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow a local `$ref` (`#/components/...`) to what it names; other nodes are returned as they are.

    Args:
        doc: The whole OpenAPI document.
        node: A node that may be `{"$ref": "#/..."}`.

    Returns:
        The referenced node.
    """
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and seen < 20:
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        node, seen = target, seen + 1
    return node


def schema_name(ref: str) -> str | None:
    """The schema name of a `#/components/schemas/<name>` reference, else `None`."""
    prefix = "#/components/schemas/"
    return ref[len(prefix) :] if ref.startswith(prefix) else None


def type_text(schema: Any) -> str:
    """A schema's type as a short Markdown phrase, linking named schemas to their entries.

    Args:
        schema: A JSON schema node.

    Returns:
        e.g. `string`, `array of [SpaceOut](#schema-spaceout)`, `integer or null`, "one of `a`, `b`".
    """
    if not isinstance(schema, dict) or not schema:
        return "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = schema_name(ref)
        return f"[{md.code(name)}]({md.link(PAGE, anchors.http_schema(name))})" if name else md.code(ref)
    for combinator, word in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return word.join(type_text(s) for s in schema[combinator])
    if "enum" in schema:
        return "one of " + ", ".join(md.code(md.value(v)) for v in schema["enum"])
    if "const" in schema:
        return md.code(md.value(schema["const"]))
    kind = schema.get("type", "object" if "properties" in schema else "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"array of {type_text(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_text(schema['additionalProperties'])}"
    text = str(kind)
    if schema.get("nullable"):
        text += " or null"
    return text


def _number(value: Any) -> Any:
    """`0.0` as `0`: JSON Schema bounds of integer fields often arrive as floats."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def constraints_text(schema: Any) -> str:
    """A schema's constraints and default as a short phrase, e.g. `≥ 1, ≤ 100; default 10`."""
    if not isinstance(schema, dict):
        return ""
    words = []
    for key, template in CONSTRAINTS.items():
        if key in schema and not (key == "exclusiveMinimum" and isinstance(schema[key], bool)):
            words.append(template.format(md.code(schema[key]) if key in ("pattern", "format") else md.text(_number(schema[key]))))
    if "default" in schema:
        words.append(f"default {md.code(md.value(schema['default']))}")
    return ", ".join(words)


def describe(schema: Any, description: str = "") -> str:
    """Description plus constraints of a field, for a table cell."""
    parts = [md.text(description or (schema.get("description", "") if isinstance(schema, dict) else ""))]
    extra = constraints_text(schema)
    if extra:
        parts.append(f"({extra})")
    return " ".join(p for p in parts if p)


def properties_table(doc: dict[str, Any], schema: Any) -> str:
    """The fields of an object schema as a table, or `""` if it has none.

    Args:
        doc: The whole document.
        schema: An object schema (refs are not followed: a named schema gets its own entry).

    Returns:
        The table.
    """
    if not isinstance(schema, dict):
        return ""
    required = set(schema.get("required", []))
    rows = [
        [md.code(name), type_text(prop), "yes" if name in required else "no", describe(resolve(doc, prop) if "$ref" not in prop else prop)]
        for name, prop in (schema.get("properties") or {}).items()
    ]
    return md.table(["field", "type", "required", "description"], rows)


def body_text(doc: dict[str, Any], content: dict[str, Any]) -> str:
    """The media types and schemas of a request or response body."""
    lines = []
    for media_type, media in (content or {}).items():
        schema = (media or {}).get("schema", {})
        lines.append(f"{md.code(media_type)}: {type_text(schema)}")
    return "; ".join(lines)


def parameters_table(doc: dict[str, Any], parameters: list[Any]) -> str:
    """The operation's path, query, header and cookie parameters as a table."""
    rows = []
    for raw in parameters:
        param = resolve(doc, raw)
        schema = param.get("schema", {})
        rows.append(
            [
                md.code(param.get("name", "")),
                md.text(param.get("in", "")),
                type_text(schema),
                "yes" if param.get("required") else "no",
                describe(schema, param.get("description", "")),
            ]
        )
    return md.table(["parameter", "in", "type", "required", "description"], rows)


def responses_table(doc: dict[str, Any], responses: dict[str, Any]) -> str:
    """Every status code the operation answers with: description, body and headers."""
    rows = []
    for status in sorted(responses, key=lambda s: (not s[:1].isdigit(), s)):
        response = resolve(doc, responses[status])
        headers = []
        for name, raw in (response.get("headers") or {}).items():
            header = resolve(doc, raw)
            desc = describe(header.get("schema", {}), header.get("description", ""))
            headers.append(f"{md.code(name)} ({type_text(header.get('schema', {}))})" + (f": {desc}" if desc else ""))
        rows.append(
            [
                md.code(status),
                md.text(response.get("description", "")),
                body_text(doc, response.get("content") or {}) or "no body",
                "<br>".join(headers),
            ]
        )
    return md.table(["status", "meaning", "body", "headers"], rows)


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[Any]]]:
    """Every operation: `(METHOD, path, operation, parameters)`, path-level parameters merged in."""
    found = []
    for path, item in (doc.get("paths") or {}).items():
        item = resolve(doc, item)
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                op = item[method]
                own = {(resolve(doc, p).get("name"), resolve(doc, p).get("in")) for p in op.get("parameters", [])}
                merged = [p for p in shared if (resolve(doc, p).get("name"), resolve(doc, p).get("in")) not in own]
                found.append((method.upper(), path, op, [*merged, *op.get("parameters", [])]))
    return found


def operation_entry(doc: dict[str, Any], method: str, path: str, op: dict[str, Any], parameters: list[Any]) -> str:
    """The entry of one operation, at `anchors.http_operation(method, path)`.

    Args:
        doc: The whole document.
        method: The upper-case method.
        path: The path template, e.g. `/spaces/{space_id}`.
        op: The operation object.
        parameters: Its parameters, path-level ones included.

    Returns:
        The entry's Markdown.
    """
    parts = [md.heading(3, md.code(f"{method} {path}"), md.fragment(anchors.http_operation(method, path)))]
    if op.get("summary"):
        parts.append(f"**{md.text(op['summary'])}**" + (" *(deprecated)*" if op.get("deprecated") else ""))
    if op.get("description"):
        parts.append(md.text(op["description"]))
    parts.append("Credential: " + credential_text(op))
    if parameters:
        parts.append(parameters_table(doc, parameters))
    body = resolve(doc, op.get("requestBody"))
    if isinstance(body, dict) and body.get("content"):
        required = "required" if body.get("required") else "optional"
        parts.append(f"Request body ({required}): {body_text(doc, body['content'])}")
        for media in body["content"].values():
            schema = (media or {}).get("schema", {})
            if isinstance(schema, dict) and "properties" in schema:
                parts.append(properties_table(doc, schema))
    parts.append(responses_table(doc, op.get("responses") or {}))
    return "\n\n".join(parts)


def credential_text(op: dict[str, Any]) -> str:
    """Who may call an operation: its security schemes, linked to their entries, or "none (open)"."""
    schemes = sorted({name for requirement in op.get("security") or [] for name in requirement})
    if not schemes:
        return "none (open)"
    return ", ".join(f"[{md.code(name)}]({md.link(PAGE, anchors.http_scheme(name))})" for name in schemes)


def schemes_section(doc: dict[str, Any]) -> str:
    """The security schemes of the document: name, how it is sent, what it is, which operations need it."""
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    parts = [md.heading(2, "Credentials", "credentials"),
             "Who may call what: each operation below names the credential it needs; operations without "
             "one are open."]
    for name in sorted(schemes):
        scheme = schemes[name]
        sent = (f"header {md.code(scheme.get('name', ''))}" if scheme.get("type") == "apiKey"
                else f"{md.code('Authorization: ' + str(scheme.get('scheme', '')).capitalize())}")
        users = [f"[{md.code(f'{m} {p}')}]({md.link(PAGE, anchors.http_operation(m, p))})" for m, p, op, _ in operations(doc)
                 if any(name in requirement for requirement in op.get("security") or [])]
        parts.append("\n\n".join([
            md.heading(3, md.code(name), md.fragment(anchors.http_scheme(name))),
            f"Sent as {sent}. " + md.text(scheme.get("description", "")),
            "Needed by: " + (", ".join(users) or "no operation"),
        ]))
    return "\n\n".join(parts)


def schema_entry(doc: dict[str, Any], name: str, schema: dict[str, Any]) -> str:
    """The entry of one named schema, at `anchors.http_schema(name)`."""
    parts = [md.heading(3, md.code(name), md.fragment(anchors.http_schema(name)))]
    if schema.get("description"):
        parts.append(md.text(schema["description"]))
    table = properties_table(doc, schema)
    parts.append(table or f"Type: {type_text(schema)}" + (f" ({constraints_text(schema)})" if constraints_text(schema) else ""))
    return "\n\n".join(parts)


def render_document(doc: dict[str, Any]) -> list[str]:
    """The blocks of the page for one OpenAPI document: operations by tag, then schemas.

    Args:
        doc: The OpenAPI document.

    Returns:
        The Markdown blocks.
    """
    ops = operations(doc)
    rows = [
        [f"[{md.code(f'{m} {p}')}]({md.link(PAGE, anchors.http_operation(m, p))})", md.text(op.get("summary", "")),
         credential_text(op)]
        for m, p, op, _ in ops
    ]
    blocks = ["## All operations\n\n" + md.table(["operation", "summary", "credential"], rows)]
    if (doc.get("components") or {}).get("securitySchemes"):
        blocks.append(schemes_section(doc))
    tags: dict[str, list[tuple[str, str, dict[str, Any], list[Any]]]] = {}
    for entry in ops:
        tags.setdefault((entry[2].get("tags") or ["other"])[0], []).append(entry)
    for tag, entries in tags.items():
        section = [md.heading(2, md.text(tag.capitalize()), f"tag-{anchors.slug(tag)}")]
        section.extend(operation_entry(doc, *entry) for entry in entries)
        blocks.append("\n\n".join(section))
    schemas = (doc.get("components") or {}).get("schemas") or {}
    if schemas:
        section = [md.heading(2, "Schemas", "schemas")]
        section.extend(schema_entry(doc, name, schemas[name]) for name in sorted(schemas))
        blocks.append("\n\n".join(section))
    return blocks


def render(snap: Snapshot) -> str:
    """The HTTP API reference page.

    Args:
        snap: The build's sources (`openapi`).

    Returns:
        The page's Markdown.
    """
    intro = (
        "Every HTTP operation of the gateway, generated at build time from the OpenAPI document its "
        "app serves at `/openapi.json` (`chorus.gateway.app.create_app(config).openapi()`)."
    )
    doc: dict[str, Any] = snap.get("openapi")
    info = doc.get("info") or {}
    facts = f"{md.text(info.get('title', 'API'))}, version {md.code(info.get('version', '?'))}, OpenAPI {md.code(doc.get('openapi', '?'))}."
    if info.get("description"):
        facts += " " + md.text(info["description"])
    return md.page("HTTP API", intro, facts, *render_document(doc), front_matter={"owner": "handbook"})
