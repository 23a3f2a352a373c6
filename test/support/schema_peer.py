"""Schema oracle: validates JSON documents against Discord's own OpenAPI spec.

    python schema_peer.py SPEC_PATH

Speaks {packet, 4} on stdin/stdout. Each request is a JSON object:

    {"schema": "GuildRoleResponse", "instance": ...}
        validate against components/schemas/<schema>
    {"method": "get", "path": "/guilds/{guild_id}", "status": 200, "instance": ...}
        validate a REST answer against the response the spec gives for that
        operation and status (an exact status, else its "4XX" class)

and the answer is {"errors": ["<json path>: <message>", ...]} (empty when
valid) or {"errors": ["spec: ..."]} when the spec has no such schema or
response. Validation is JSON Schema 2020-12 (the spec is OpenAPI 3.1) with
format checking for date-time and uri.
"""
import json
import struct
import sys

import jsonschema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:discord-openapi"

with open(sys.argv[1], "rb") as f:
    spec = json.load(f)

registry = Registry().with_resource(SPEC_URI, Resource(contents=spec, specification=DRAFT202012))
format_checker = Draft202012Validator.FORMAT_CHECKER
validators = {}


def validator_for(pointer):
    v = validators.get(pointer)
    if v is None:
        v = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry, format_checker=format_checker)
        validators[pointer] = v
    return v


def response_pointer(method, path, status):
    op = spec["paths"].get(path, {}).get(method)
    if op is None:
        raise LookupError(f"no operation {method.upper()} {path}")
    responses = op["responses"]
    key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
    if key not in responses:
        raise LookupError(f"{method.upper()} {path} documents no {status} response")
    response = responses[key]
    base = f"/paths/{escape(path)}/{method}/responses/{key}"
    if "$ref" in response:
        base = response["$ref"][1:]
        response = resolve(base)
    content = response.get("content", {}).get("application/json")
    if content is None:
        return None
    return base + "/content/application~1json/schema"


def resolve(pointer):
    node = spec
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def escape(part):
    return part.replace("~", "~0").replace("/", "~1")


def check(request):
    instance = request.get("instance")
    if "schema" in request:
        name = request["schema"]
        if name not in spec["components"]["schemas"]:
            return [f"spec: no schema {name}"]
        pointer = f"/components/schemas/{name}"
    else:
        try:
            pointer = response_pointer(request["method"], request["path"], request["status"])
        except LookupError as e:
            return [f"spec: {e}"]
        if pointer is None:
            return [] if instance is None else ["spec: the response has no body, but one was sent"]
    errors = sorted(validator_for(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{e.json_path}: {e.message[:300]}" for e in errors[:20]]


def read_exactly(n):
    data = b""
    while len(data) < n:
        chunk = sys.stdin.buffer.read(n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


while True:
    (length,) = struct.unpack(">I", read_exactly(4))
    request = json.loads(read_exactly(length))
    try:
        answer = {"errors": check(request)}
    except jsonschema.exceptions.SchemaError as e:
        answer = {"errors": [f"spec: {e.message}"]}
    out = json.dumps(answer).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(out)) + out)
    sys.stdout.buffer.flush()
