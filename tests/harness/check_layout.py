#!/usr/bin/env python3
"""check_layout.py: the test tree mirrors the parts (ARCHITECTURE.md, "Habits"), checked, not remembered.

Fails, naming each offender, when
  (a) a test file (test_*.c) is not directly under tests/<part>/ (<part>: a folder of gateway/, or
      `mappers`), or has no `/* labels: ... */` line near its top naming known labels;
  (b) a public module has no test named after it: every gateway/<part>/<module>.h needs a
      tests/<part>/test_<module>.c or tests/<part>/test_<module>_<behaviour>.c, every mappers/<module>.h
      (the kit) a tests/mappers/test_<module>*.c. A test counts for the longest module name it starts
      with (test_http_parse_limits.c proves http_parse, not http);
  (c) an exemption below names no header, or a header that has a test after all (then drop it).

Usage: check_layout.py [source dir]   (default: the checkout this file is in)
"""
import os
import re
import sys

LABELS = {"unit", "mapper", "integration", "e2e"}
LABELS_RE = re.compile(r"^/\* labels: ([a-z0-9 ]+) \*/$", re.M)
LABELS_WINDOW = 4096  # "near the top": CMakeLists.txt reads the same bytes (LIMIT_INPUT)

# Headers that need no test of their own. Only private seams: each is included by its own part alone
# (or is test-only), and its behaviour is proved through the test named in the reason.
EXEMPT = {
    "gateway/config/cfgint.h": "config's internals (the key-table walker's types), tested through test_config_*",
    "gateway/config/keys.h": "every part's key table, walked by test_config_keys",
    "gateway/store/store_sql.h": "SQL shared by the backends behind store.h, tested by test_store_sqlite and test_store_pg (one conformance suite)",
    "gateway/store/store_pg_int.h": "the PostgreSQL backend's own header behind store.h, tested by test_store_pg*",
    "gateway/store/store_sqlite_int.h": "the SQLite backend's own header behind store.h, tested by test_store_sqlite",
    "gateway/cli/commands.h": "the CLI's command table, tested through test_cli_commands",
    "gateway/net/fuzzpump.h": "fuzz-only (drives the servers from libFuzzer targets in tests/fuzz)",
    "gateway/net/http_conn.h": "the HTTP server's connection half (http_server.c's only), tested through test_http_server (timeouts, write stalls, output caps)",
    "gateway/delivery/engine_int.h": "the engine's own header, shared by engine*.c, tested through test_engine_*",
    "gateway/delivery/lookups.h": "the engine's project and case-type lookups (reached only through engine_int.h), tested through test_engine_datadog_truth and test_actions_daemon",
    "gateway/delivery/sweep.h": "the engine's archive sweep (reached only through engine_int.h), tested through test_actions_daemon (archive sweep)",
    "gateway/intake/storm_int.h": "what storm folding (storm.c) and its daemon tick (storm_tick.c) share, tested through test_storm*",
    "gateway/store/journal_int.h": "what the journal's records and appends (journal.c) and its opening (journal_open.c) share, tested through test_journal",
    "gateway/intake/state.h": "intake's own shared state (struct cg_intake), included by intake's files only, tested through test_intake_* and test_webhook_*",
    "mappers/amshape.h": "the Alertmanager payload shape shared by the alertmanager and grafana sources, tested by their fixtures in test_registry_sources",
    "mappers/caseattrs.h": "builder.c's attribute half (reached through builder.h), tested by test_builder",
    "mappers/casetext.h": "builder.c's text half (builder.c's only), tested by test_builder",
    "mappers/tmpl_int.h": "the compiled template shared by tmpl.c (compiler) and tmpl_render.c (renderer), tested by test_tmpl",
    "mappers/casebody.h": "builder.c's Case API bodies (reached through builder.h), tested by test_builder and test_requests_table",
    "mappers/mailparts.h": "mail.c's MIME part counting (reached through mail.h), tested by test_mail_eml",
}
# mappers/sources/*: one file per source, every one proved by the table-driven mapper test
# (test_registry_sources, over tests/fixtures/<source>/) and not checked here.
# mappers/base/*: below the kit; not in this check yet (see README, Testing).


def test_dirs(root):
    parts = sorted(d for d in os.listdir(os.path.join(root, "gateway"))
                   if os.path.isdir(os.path.join(root, "gateway", d)))
    return parts, parts + ["mappers"]


def check_files(root, dirs):
    """(a): every test_*.c under tests/ sits in tests/<part>/ and names its labels."""
    bad = []
    tests = os.path.join(root, "tests")
    for dirpath, _, files in os.walk(tests):
        for f in sorted(files):
            if not (f.startswith("test_") and f.endswith(".c")):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            where = os.path.relpath(dirpath, tests)
            if where not in dirs:
                bad.append(f"{rel}: not under a part folder (tests/<part>/, <part> one of {', '.join(dirs)})")
                continue
            with open(os.path.join(dirpath, f), encoding="utf-8", errors="replace") as fh:
                head = fh.read(LABELS_WINDOW)
            m = LABELS_RE.search(head)
            if not m:
                bad.append(f"{rel}: no `/* labels: ... */` line near the top (one of {', '.join(sorted(LABELS))})")
                continue
            unknown = [l for l in m.group(1).split() if l not in LABELS]
            if unknown:
                bad.append(f"{rel}: unknown label(s) {' '.join(unknown)} (one of {', '.join(sorted(LABELS))})")
    return bad


def modules_of(folder):
    if not os.path.isdir(folder):
        return []
    return sorted(f[:-2] for f in os.listdir(folder) if f.endswith(".h"))


def covered(modules, test_folder):
    """Modules with a test named after them, each test counted for the longest module it names."""
    have = set()
    if not os.path.isdir(test_folder):
        return have
    for f in os.listdir(test_folder):
        if not (f.startswith("test_") and f.endswith(".c")):
            continue
        stem = f[len("test_"):-2]
        names = [m for m in modules if stem == m or stem.startswith(m + "_")]
        if names:
            have.add(max(names, key=len))
    return have


def check_modules(root, parts):
    """(b) and (c)."""
    bad = []
    groups = [(f"gateway/{p}", f"tests/{p}") for p in parts] + [("mappers", "tests/mappers")]
    seen = set()
    for src, tst in groups:
        mods = modules_of(os.path.join(root, src))
        have = covered(mods, os.path.join(root, tst))
        for m in mods:
            h = f"{src}/{m}.h"
            seen.add(h)
            if h in EXEMPT:
                if m in have:
                    bad.append(f"{h}: exempt in check_layout.py but {tst}/test_{m}*.c exists: drop the exemption")
                continue
            if m not in have:
                bad.append(f"{h}: no test named after it (write {tst}/test_{m}_<behaviour>.c, or rename the test that proves it)")
    for h in sorted(EXEMPT):
        if h not in seen:
            bad.append(f"check_layout.py: exemption {h} names no header (drop it)")
    return bad


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    parts, dirs = test_dirs(root)
    bad = check_files(root, dirs) + check_modules(root, parts)
    for b in bad:
        print(f"check_layout: {b}", file=sys.stderr)
    if bad:
        print(f"check_layout: {len(bad)} problem(s); the layout is in README, Testing", file=sys.stderr)
        return 1
    print("check_layout: every test under its part with a labels line, every public module tested by name")
    return 0


if __name__ == "__main__":
    sys.exit(main())
