#!/usr/bin/python3
"""validate.py: checks the request bodies casegate sent (casegate-sim's --request-log) against
Datadog's Case Management OpenAPI contract in $CG_SHARED_DIR/contracts.

Usage: validate.py [--skip-4xx] [--allow-unknown-fields] [--quiet] LOG [LOG...]

Exit codes: 0 every checked request is valid, 1 some request is invalid (each is printed),
2 usage error, 77 the contract (or python3-yaml / python3-jsonschema) is not available.

Conversion from OpenAPI 3.0 to JSON Schema (draft 7):
  - $ref '#/components/schemas/X' -> '#/definitions/X'; sibling keywords of a $ref are dropped
    (OpenAPI 3.0 ignores them too).
  - nullable: true -> null added to 'type' (and to 'enum'); without 'type' -> anyOf [..., null].
  - oneOf -> anyOf: the spec's value unions overlap (an empty array is both a string array and a
    number array), and Datadog's generated clients accept the first branch that fits.
  - readOnly properties are removed from 'required' (they are answered, not sent).
  - unless --allow-unknown-fields: objects that list 'properties' and say nothing about
    'additionalProperties' get additionalProperties: false, so a misspelt field is caught.
Requests whose method + path match no operation are listed as "not in contract" (not failures);
--skip-4xx ignores requests the simulator answered with a 4xx (deliberately invalid traffic).
"""
import json
import os
import re
import sys
from urllib.parse import parse_qsl

SKIP = 77


def skip(tool, msg):
    # The line deploy/dev.sh summarises (see tests/harness/harness.h).
    print("CASEGATE-SKIP tool=%s test=validate.py: contract not checked: %s" % (tool, msg), flush=True)
    sys.exit(SKIP)


def convert(node, allow_unknown):
    """Returns a JSON Schema copy of an OpenAPI 3.0 schema node."""
    if isinstance(node, list):
        return [convert(n, allow_unknown) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        prefix = "#/components/schemas/"
        if ref.startswith(prefix):
            ref = "#/definitions/" + ref[len(prefix):]
        return {"$ref": ref}
    out = {}
    for k, v in node.items():
        if k in ("nullable", "example", "x-enum-varnames", "discriminator", "xml", "externalDocs",
                 "deprecated", "readOnly", "writeOnly", "x-merge-override"):
            continue
        if k == "oneOf":
            out["anyOf"] = convert(v, allow_unknown)
        elif k == "properties":
            out[k] = {pk: convert(pv, allow_unknown) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not", "anyOf", "allOf"):
            out[k] = convert(v, allow_unknown)
        else:
            out[k] = v
    props = node.get("properties") or {}
    if "required" in out:
        ro = {k for k, v in props.items() if isinstance(v, dict) and v.get("readOnly")}
        out["required"] = [r for r in out["required"] if r not in ro]
        if not out["required"]:
            del out["required"]
    if not allow_unknown and props and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def path_regex(template):
    parts = re.split(r"(\{[^}]+\})", template)
    rx = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile("^" + rx + "/?$")


def load_contract(path, allow_unknown):
    import yaml
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    comps = spec.get("components", {})
    defs = {name: convert(s, allow_unknown) for name, s in comps.get("schemas", {}).items()}
    params = comps.get("parameters", {})
    ops = []
    for tmpl, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            body = op.get("requestBody")
            schema = None
            if body:
                schema = body.get("content", {}).get("application/json", {}).get("schema")
            qparams = {}
            for p in op.get("parameters", []) + item.get("parameters", []):
                if "$ref" in p:
                    p = params.get(p["$ref"].rsplit("/", 1)[-1], {})
                if p.get("in") == "query":
                    qparams[p["name"]] = p.get("schema", {})
            literal = len([s for s in tmpl.split("/") if s and not s.startswith("{")])
            ops.append({
                "method": method.upper(), "template": tmpl, "rx": path_regex(tmpl),
                "id": op.get("operationId", "?"), "literal": literal,
                "body_required": bool(body and body.get("required")),
                "schema": convert(schema, allow_unknown) if schema else None,
                "query": qparams,
            })
    # A literal segment beats a parameter: /cases/projects is GetProjects, not GetCase.
    ops.sort(key=lambda o: -o["literal"])
    return defs, ops


def check_query(op, query):
    errs = []
    for name, value in parse_qsl(query or "", keep_blank_values=True):
        sch = op["query"].get(name)
        if sch is None:
            errs.append("query parameter %r is not in the contract" % name)
            continue
        t = sch.get("type")
        if t == "integer" and not re.fullmatch(r"-?\d+", value):
            errs.append("query parameter %s=%r is not an integer" % (name, value))
        elif t == "boolean" and value not in ("true", "false"):
            errs.append("query parameter %s=%r is not a boolean" % (name, value))
        if "enum" in sch and value not in [str(e) for e in sch["enum"]]:
            errs.append("query parameter %s=%r is not one of %s" % (name, value, sch["enum"]))
    return errs


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--skip-4xx", "--allow-unknown-fields", "--quiet"}
    if unknown or not args:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    shared = os.environ.get("CG_SHARED_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
    contract = os.path.join(shared, "contracts", "datadog-cases-openapi.yaml")
    if not os.path.isfile(contract):
        skip("shared", "%s not found" % contract)
    try:
        import yaml  # noqa: F401
        import jsonschema
    except ImportError as e:
        skip("python3-" + (getattr(e, "name", None) or "yaml"), "missing module: %s (install python3-yaml python3-jsonschema)" % e)

    defs, ops = load_contract(contract, "--allow-unknown-fields" in flags)
    checked = invalid = not_in_contract = skipped = 0
    for log in args:
        try:
            f = open(log, encoding="utf-8")
        except OSError as e:
            print("contract: cannot read %s: %s" % (log, e))
            return 1
        with f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                where = "%s:%d" % (log, lineno)
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    print("INVALID %s: log line is not JSON: %s" % (where, e))
                    invalid += 1
                    continue
                method = str(rec.get("method", "")).upper()
                path = str(rec.get("path", ""))
                status = rec.get("status") or 0
                if "--skip-4xx" in flags and 400 <= status < 500:
                    skipped += 1
                    continue
                op = next((o for o in ops if o["method"] == method and o["rx"].match(path)), None)
                if op is None:
                    not_in_contract += 1
                    print("not in contract %s: %s %s" % (where, method, path))
                    continue
                checked += 1
                errs = []
                logged_op = rec.get("operation")
                if logged_op not in (None, "unknown", op["id"]):
                    errs.append("simulator logged operation %s, contract says %s" % (logged_op, op["id"]))
                errs += check_query(op, rec.get("query"))
                body = rec.get("body")
                if rec.get("invalid_json"):
                    errs.append("body is not valid JSON")
                elif op["schema"] is None:
                    if body is not None:
                        errs.append("operation %s takes no body" % op["id"])
                elif body is None:
                    if op["body_required"]:
                        errs.append("request body is required")
                else:
                    schema = dict(op["schema"])
                    schema["definitions"] = defs
                    v = jsonschema.Draft7Validator(schema)
                    for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path)):
                        loc = "/".join(str(p) for p in e.absolute_path) or "(root)"
                        errs.append("%s: %s" % (loc, e.message))
                if errs:
                    invalid += 1
                    print("INVALID %s: %s %s (%s)" % (where, method, path, op["id"]))
                    for e in errs:
                        print("    " + e)
                elif "--quiet" not in flags:
                    print("ok %s: %s %s (%s)" % (where, method, path, op["id"]))
    print("contract: %d checked, %d invalid, %d not in contract, %d skipped" %
          (checked, invalid, not_in_contract, skipped))
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
