#!/usr/bin/python3
"""validate_bodies.py: checks JSON request bodies against a schema of the Datadog Case API OpenAPI file.

usage: validate_bodies.py [--spec OPENAPI.yaml] [--loose] SCHEMA FILE [SCHEMA FILE ...]

SCHEMA is a name under components/schemas (CaseCreateRequest, CaseCommentRequest, ...). FILE holds
one JSON document. The spec defaults to $CG_SHARED_DIR/contracts/datadog-cases-openapi.yaml.
By default objects that declare `properties` reject unknown keys (OpenAPI allows them, but a
field the API does not know is a bug in what we send); --loose keeps OpenAPI's looser rule.

Exit codes: 0 all valid, 1 some invalid (each error printed), 2 usage or unreadable input,
77 skipped (no spec file, or python3-jsonschema / python3-yaml missing).
"""
import copy
import json
import os
import sys

SKIP = 77


def convert(node, strict):
    """OpenAPI 3.0 schema objects -> JSON Schema (nullable, optional strictness)."""
    if isinstance(node, list):
        return [convert(x, strict) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: convert(v, strict) for k, v in node.items()}
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def main(argv):
    spec_path = None
    strict = True
    args = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--spec" and i + 1 < len(argv):
            spec_path = argv[i + 1]
            i += 2
            continue
        if a == "--loose":
            strict = False
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(a)
        i += 1
    if not args or len(args) % 2:
        sys.stderr.write("usage: validate_bodies.py [--spec FILE] [--loose] SCHEMA FILE [SCHEMA FILE ...]\n")
        return 2
    if spec_path is None:
        shared = os.environ.get("CG_SHARED_DIR")
        if not shared:
            print("CASEGATE-SKIP tool=shared test=validate_bodies.py: CG_SHARED_DIR not set", flush=True)
            return SKIP
        spec_path = os.path.join(shared, "contracts", "datadog-cases-openapi.yaml")
    if not os.path.exists(spec_path):
        print("CASEGATE-SKIP tool=shared test=validate_bodies.py: no spec at %s" % spec_path, flush=True)
        return SKIP
    try:
        import jsonschema
        import yaml
    except ImportError as e:
        print("CASEGATE-SKIP tool=python3-%s test=validate_bodies.py: %s" % (getattr(e, "name", None) or "yaml", e), flush=True)
        return SKIP

    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    schemas = spec.get("components", {}).get("schemas", {})
    components = {"schemas": convert(copy.deepcopy(schemas), strict)}

    bad = 0
    for name, path in zip(args[0::2], args[1::2]):
        if name not in schemas:
            sys.stderr.write("%s: no schema %r in %s\n" % (path, name, spec_path))
            return 2
        try:
            with open(path, encoding="utf-8") as f:
                body = json.load(f)
        except (OSError, ValueError) as e:
            sys.stderr.write("%s: %s\n" % (path, e))
            return 2
        # Refs are "#/components/schemas/X": keep them resolvable inside one document.
        doc = {"$ref": "#/components/schemas/" + name, "components": components}
        v = jsonschema.Draft7Validator(doc)
        errors = sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            print("INVALID %s as %s at %s: %s" % (path, name, where, e.message))
            for sub in e.context or []:
                print("    oneOf branch: %s" % sub.message)
        if errors:
            bad += 1
        else:
            print("ok %s as %s" % (path, name))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
