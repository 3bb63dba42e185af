#!/usr/bin/env python3
"""What the official Python MCP SDK does with one `list` result of 1,000 records, per shape.

    python3 bench/mcp_levers.py [RECORDS] [ROUNDS]

No server: each candidate result is built here (records like `kovra-bench populate`'s), put
in a JSON-RPC line, and taken through the steps `ClientSession.call_tool` runs on an answer,
with the SDK's own functions: parse the line into a message (`parse`), check the result
against the protocol revision's model (`surface`), build the `CallToolResult` (`model`), and
validate the structured content against the tool's output schema with the compiled validator
the SDK caches per tool (`schema`). CPU milliseconds (`time.process_time`), median of ROUNDS
(25); the machine's load moves wall time, less so CPU time. Prints a markdown table.

The shapes are the levers tried for issue 16 (`list` with 1,000 records through the SDK):
records as typed objects (as `list` returned them before, with the record schema inlined,
and referenced through `$defs` as before that), without the integers' `format`/`minimum`,
objects checked only as objects, objects with no per-record schema, rows (arrays under a
`columns` header) with and without a per-row schema, fewer fields, and the shape `list`
returns now (rows, `columns` pinned by `const`, no per-record schema).

Uses private parts of the SDK (tested with mcp 2.3.0): another version may need changes.
"""

import copy
import json
import statistics
import sys
import time

try:
    import mcp_types as types
    from jsonschema import exceptions as jsonschema_exceptions
    from jsonschema.validators import validator_for
    from mcp.client.session import _CallToolResultAdapter
    from mcp_types import methods
    from referencing import Registry
except ImportError as e:
    sys.exit(f"mcp_levers.py: the Python MCP SDK's internals moved ({e}); tested with mcp 2.3.0")

RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 25
VERSION = "2025-11-25"
COLUMNS = ["coordinate", "vault", "env", "sensitivity", "revealable", "production",
           "description", "version", "updated", "totp"]
ENVS = ["dev", "staging", "test", "prod"]
SENSITIVITIES = ["low", "medium", "high", "inject-only"]
UINT64 = {"type": "integer", "format": "uint64", "minimum": 0}
TYPES = {"coordinate": {"type": "string"}, "vault": {"type": "string"}, "env": {"type": "string"},
         "sensitivity": {"type": "string"}, "revealable": {"type": "boolean"},
         "production": {"type": "boolean"}, "description": {"type": "string"},
         "version": UINT64, "updated": UINT64, "totp": {"type": "boolean"}}


def record(i):
    env, group = ENVS[i % 4], ["api", "db", "queue", "mail"][i // 4 % 4]
    return {"coordinate": f"secret:{env}/{group}/key-{i:07}", "vault": "global", "env": env,
            "sensitivity": SENSITIVITIES[i % 3], "revealable": True, "production": env == "prod",
            "description": f"benchmark record {i} ({group} credential for {env})", "version": 1,
            "updated": 1796459314, "totp": False}


def page(records, schema_of_records, extra=None):
    """A `list` result around `records`, and its output schema around `schema_of_records`."""
    count = {"type": "integer", "format": "uint", "minimum": 0}
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "required": ["records", "tampered", "missing", "total"],
              "properties": {"records": schema_of_records, "tampered": count, "missing": count,
                             "total": count, "next_cursor": {"type": ["string", "null"]}}}
    content = {"records": records, "tampered": 0, "missing": 0, "total": RECORDS}
    for name, (value, subschema) in (extra or {}).items():
        content[name] = value
        schema["properties"][name] = subschema
        schema["required"].insert(0, name)
    return schema, content


def shapes():
    objects = [record(i) for i in range(RECORDS)]
    rows = [[r[c] for c in COLUMNS] for r in objects]
    typed = {"type": "object", "properties": TYPES, "required": COLUMNS}
    header = {"columns": (COLUMNS, {"const": COLUMNS})}
    yield "objects, typed, inlined (before)", *page(objects, {"type": "array", "items": typed})
    by_ref, content = page(objects, {"type": "array", "items": {"$ref": "#/$defs/RecordOut"}})
    by_ref["$defs"] = {"RecordOut": typed}
    yield "objects, typed, `$ref` to `$defs`", by_ref, content
    plain = copy.deepcopy(typed)
    plain["properties"]["version"] = plain["properties"]["updated"] = {"type": "integer"}
    yield "objects, typed, no `format`/`minimum`", *page(objects, {"type": "array", "items": plain})
    closed = dict(copy.deepcopy(typed), additionalProperties=False)
    yield "objects, typed, `additionalProperties: false`", *page(
        objects, {"type": "array", "items": closed})
    yield "objects, `items`: object + required", *page(
        objects, {"type": "array", "items": {"type": "object", "required": COLUMNS}})
    yield "objects, no `items`", *page(objects, {"type": "array"})
    few = ["coordinate", "sensitivity", "description"]
    yield "objects, 3 typed fields", *page(
        [{c: r[c] for c in few} for r in objects],
        {"type": "array", "items": {"type": "object", "required": few,
                                    "properties": {c: TYPES[c] for c in few}}})
    yield "coordinates only, `items`: string", *page(
        [r["coordinate"] for r in objects], {"type": "array", "items": {"type": "string"}})
    yield "rows, typed `prefixItems`", *page(
        rows, {"type": "array", "items": {"type": "array", "prefixItems": [TYPES[c] for c in COLUMNS],
                                          "items": False}}, header)
    yield "rows, `items`: array of 10", *page(
        rows, {"type": "array", "items": {"type": "array", "minItems": 10, "maxItems": 10}}, header)
    yield "rows, no `items`, `columns` const (now)", *page(rows, {"type": "array"}, header)


def steps(schema, content):
    line = json.dumps({"jsonrpc": "2.0", "id": 7, "result": {
        "content": [{"type": "text", "text": f"{RECORDS} records in this result's structured content"}],
        "structuredContent": content, "isError": False}}, separators=(",", ":"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, registry=Registry())

    def once():
        t0 = time.process_time()
        raw = types.jsonrpc_message_adapter.validate_json(line, by_name=False).result
        t1 = time.process_time()
        methods.validate_server_result("tools/call", VERSION, raw)
        t2 = time.process_time()
        result = _CallToolResultAdapter.validate_python(raw, by_name=False)
        t3 = time.process_time()
        error = jsonschema_exceptions.best_match(validator.iter_errors(result.structured_content))
        t4 = time.process_time()
        if error is not None:
            sys.exit(f"mcp_levers.py: a shape does not conform to its own schema: {error}")
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0

    once()
    runs = [once() for _ in range(ROUNDS)]
    return len(line), [statistics.median(step) * 1000 for step in zip(*runs)]


print(f"| {RECORDS} records: shape | bytes | parse | surface | model | schema | total CPU ms |")
print("|---|---|---|---|---|---|---|")
for name, schema, content in shapes():
    size, ms = steps(schema, content)
    print(f"| {name} | {size} | " + " | ".join(f"{x:.2f}" for x in ms) + " |")
