#!/usr/bin/env python3
"""mutate.py: the mutation check: breaks one promise at a time in a scratch copy and runs the tests
that must notice.

Each mutant in mutants.txt is one small source edit (an exact old text, found exactly once, and
its replacement) plus the ctest regex of the tests that prove the promise. The script copies the
working tree (tracked and untracked files, uncommitted changes included) to a scratch directory
outside the source tree, configures and builds it once, then for each mutant: applies the edit,
rebuilds only what the mutant's tests need, runs them, restores the file. A mutant is

  killed    a test failed (or timed out): the promise is proven;
  survived  every test passed with the promise broken: a test is missing;
  invalid   the mutant did not compile (counted apart: it proves nothing).

Not part of .ci/run (it takes long): see README, Testing, "Mutation check".
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


class Mutant:
    def __init__(self, mid, line):
        self.id = mid
        self.line = line
        self.promise = ""
        self.tests = ""
        self.edits = []  # [file, old, new]


def parse_list(path):
    """The list's format (see the head of mutants.txt): `== id` starts an entry; `promise:`,
    `tests:` and `file:` lines; after a `file:`, lines starting with `-` are the old text and
    lines starting with `+` the new text, each verbatim after that first character."""
    mutants = []
    cur = None
    edit = None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("#") or (not line.strip() and edit is None):
                continue
            if line.startswith("== "):
                cur = Mutant(line[3:].strip(), n)
                mutants.append(cur)
                edit = None
                continue
            if cur is None:
                raise SystemExit(f"{path}:{n}: text before the first `== id` line")
            if line.startswith("promise:"):
                cur.promise = line[len("promise:"):].strip()
            elif line.startswith("tests:"):
                cur.tests = line[len("tests:"):].strip()
            elif line.startswith("file:"):
                edit = [line[len("file:"):].strip(), [], []]
                cur.edits.append(edit)
            elif line.startswith("-") and edit is not None:
                edit[1].append(line[1:])
            elif line.startswith("+") and edit is not None:
                edit[2].append(line[1:])
            elif not line.strip():
                edit = None
            else:
                raise SystemExit(f"{path}:{n}: cannot read this line: {line!r}")
    seen = set()
    for m in mutants:
        where = f"{path}:{m.line}: mutant {m.id}"
        if m.id in seen:
            raise SystemExit(f"{where}: id used twice")
        seen.add(m.id)
        if not m.promise or not m.tests or not m.edits:
            raise SystemExit(f"{where}: needs promise:, tests: and at least one file: edit")
        for e in m.edits:
            if not e[1]:
                raise SystemExit(f"{where}: edit of {e[0]} has no old text (`-` lines)")
            e[1] = "\n".join(e[1])
            e[2] = "\n".join(e[2])
    return mutants


def check_edits(mutants, root):
    """Every old text must occur exactly once in its file, else the mutant is ambiguous or stale."""
    bad = []
    for m in mutants:
        for fname, old, _new in m.edits:
            p = os.path.join(root, fname)
            try:
                text = open(p, encoding="utf-8").read()
            except OSError as e:
                bad.append(f"{m.id}: {fname}: {e.strerror}")
                continue
            n = text.count(old)
            if n != 1:
                bad.append(f"{m.id}: {fname}: old text found {n} times (must be exactly once):\n{old}")
    return bad


def copy_tree(src, dst):
    """Tracked and untracked (not ignored) files of the working tree, as they are now."""
    files = subprocess.run(["git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True).stdout.split(b"\0")
    for rel in files:
        if not rel:
            continue
        rel = rel.decode()
        s = os.path.join(src, rel)
        if not os.path.lexists(s):
            continue  # deleted in the working tree
        d = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        else:
            shutil.copy2(s, d)


def run(cmd, timeout, log, cwd=None, env=None):
    """Runs cmd in its own process group; returns (exit code or None on timeout, seconds)."""
    t0 = time.monotonic()
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
    return rc, time.monotonic() - t0


def tests_of(build, regex):
    """Names of the ctest tests the regex selects (they are also the executables' targets)."""
    out = subprocess.run(["ctest", "-N", "-R", regex], cwd=build, capture_output=True, text=True).stdout
    return re.findall(r"Test\s+#\d+:\s+(\S+)", out)


def main():
    ap = argparse.ArgumentParser(description="Mutation check: each mutant must be killed by its tests.")
    ap.add_argument("ids", nargs="*", help="mutant ids to run (default: all); a trailing * matches a prefix")
    ap.add_argument("--list", default=os.path.join(HERE, "mutants.txt"), help="the list (default: %(default)s)")
    ap.add_argument("--jobs", "-j", type=int, default=2, help="build and ctest parallelism (default 2)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for one mutant's tests (default 900)")
    ap.add_argument("--scratch", help="scratch directory to use (default: a new one under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--reuse", action="store_true",
                    help="--scratch holds an earlier run's copy and build: reuse them (no copy, no configure)")
    ap.add_argument("--baseline", action="store_true",
                    help="first run every selected mutant's tests on the unmutated tree (they must pass)")
    ap.add_argument("--check", action="store_true", help="only check the list against the source, run nothing")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    a = ap.parse_args()

    mutants = parse_list(a.list)
    bad = check_edits(mutants, REPO)
    if bad:
        print("the list does not match the source:\n" + "\n".join(bad), file=sys.stderr)
        return 2
    if a.ids:
        want = a.ids
        pick = [m for m in mutants if any(m.id == w or (w.endswith("*") and m.id.startswith(w[:-1])) for w in want)]
        unknown = [w for w in want if not any(m.id == w or (w.endswith("*") and m.id.startswith(w[:-1]))
                                              for m in mutants)]
        if unknown:
            print("unknown mutant id(s): " + ", ".join(unknown), file=sys.stderr)
            return 2
        mutants = pick
    if a.check:
        print(f"{len(mutants)} mutant(s): every old text found exactly once")
        return 0

    scratch = a.scratch or tempfile.mkdtemp(prefix="cg-mutation-")
    scratch = os.path.abspath(scratch)
    if scratch == REPO or scratch.startswith(REPO + os.sep):
        print("the scratch directory must be outside the source tree", file=sys.stderr)
        return 2
    src = os.path.join(scratch, "src")
    build = os.path.join(scratch, "build")
    log = os.path.join(scratch, "mutation.log")
    # The tests find the reference data at <source>/../shared, as in a checkout.
    shared = os.path.realpath(os.path.join(REPO, "..", "shared"))
    print(f"scratch: {scratch} (log: {log})", flush=True)
    env = dict(os.environ)
    try:
        if not a.reuse:
            if os.path.exists(src):
                shutil.rmtree(src)
            os.makedirs(src)
            copy_tree(REPO, src)
            link = os.path.join(scratch, "shared")
            if os.path.isdir(shared) and not os.path.lexists(link):
                os.symlink(shared, link)
            rc, _ = run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], 600, log, env=env)
            if rc != 0:
                print(f"configure failed (see {log})", file=sys.stderr)
                return 1
        else:
            bad = check_edits(mutants, src)
            if bad:
                print("the scratch copy differs from the list:\n" + "\n".join(bad), file=sys.stderr)
                return 2
        # Only what the selected mutants' tests need: the daemon, the simulator, those tests.
        need = {"casegate", "casegate-sim"}
        tests = {}
        for m in mutants:
            tests[m.id] = [t for t in tests_of(build, m.tests) if t != "check_layout"]
            if not tests[m.id]:
                print(f"{m.id}: its regex {m.tests!r} selects no test", file=sys.stderr)
                return 2
            need.update(tests[m.id])
        print(f"building {len(need)} targets once ...", flush=True)
        rc, secs = run(["cmake", "--build", build, "-j", str(a.jobs), "--target", *sorted(need)], 3600, log, env=env)
        if rc != 0:
            print(f"the unmutated tree does not build (see {log})", file=sys.stderr)
            return 1
        print(f"built in {secs:.0f} s", flush=True)

        if a.baseline:
            regex = "|".join(f"({m.tests})" for m in mutants)
            rc, secs = run(["ctest", "-j", str(a.jobs), "--output-on-failure", "-R", regex], a.timeout * 2, log,
                           cwd=build, env=env)
            print(f"baseline: {'pass' if rc == 0 else 'FAIL'} ({secs:.0f} s)", flush=True)
            if rc != 0:
                print(f"the unmutated tree fails its tests: no mutant can be judged (see {log})", file=sys.stderr)
                return 1

        rows = []
        for m in mutants:
            originals = {}
            for fname, old, new in m.edits:
                p = os.path.join(src, fname)
                if fname not in originals:
                    originals[fname] = open(p, encoding="utf-8").read()
                text = open(p, encoding="utf-8").read()
                with open(p, "w", encoding="utf-8") as f:
                    f.write(text.replace(old, new, 1))
            t0 = time.monotonic()
            try:
                rc, _ = run(["cmake", "--build", build, "-j", str(a.jobs), "--target", "casegate", "casegate-sim",
                             *tests[m.id]], 1800, log, env=env)
                if rc != 0:
                    result, failed = "invalid", "build failed"
                else:
                    # Per test: a hang counts as a failure, not as a stuck run.
                    per_test = max(60, a.timeout // max(1, len(tests[m.id])))
                    res_log = os.path.join(scratch, f"ctest-{m.id}.log")
                    rc, _ = run(["ctest", "-j", str(a.jobs), "--timeout", str(per_test), "--output-on-failure",
                                 "-R", m.tests, "--output-log", res_log], a.timeout, log, cwd=build, env=env)
                    if rc is None:
                        result, failed = "killed", "timeout"
                    elif rc != 0:
                        result = "killed"
                        text = open(res_log, encoding="utf-8", errors="replace").read() if os.path.exists(res_log) else ""
                        names = re.findall(r"^\s*\d+ - (\S+) \(", text, re.M)
                        failed = ", ".join(dict.fromkeys(names)) or "tests failed"
                    else:
                        result, failed = "survived", ""
            finally:
                for fname, text in originals.items():
                    with open(os.path.join(src, fname), "w", encoding="utf-8") as f:
                        f.write(text)
            secs = time.monotonic() - t0
            rows.append((m, result, failed, secs))
            print(f"{m.id:28} {result:9} {secs:6.0f} s  {failed}", flush=True)

        print()
        if a.markdown:
            print("| mutant | promise broken | tests | result | s |")
            print("|---|---|---|---|---|")
            for m, result, failed, secs in rows:
                by = f" ({failed})" if result == "killed" and failed else ""
                # A pipe splits a Markdown table cell, even inside backticks: escape it.
                tests_md = m.tests.replace("|", "\\|")
                print(f"| `{m.id}` | {m.promise} | `{tests_md}` | {result}{by} | {secs:.0f} |")
        else:
            for m, result, failed, secs in rows:
                print(f"{m.id:28} {result:9} {secs:6.0f} s  {m.promise}")
                print(f"{'':28} tests: {m.tests}" + (f"  failed: {failed}" if failed else ""))
        k = sum(1 for r in rows if r[1] == "killed")
        s = [r[0].id for r in rows if r[1] == "survived"]
        i = [r[0].id for r in rows if r[1] == "invalid"]
        print(f"\n{len(rows)} mutants: {k} killed, {len(s)} survived, {len(i)} invalid")
        if s:
            print("survived: " + ", ".join(s))
        if i:
            print("invalid: " + ", ".join(i))
        return 0 if not s and not i else 1
    finally:
        if a.keep or a.scratch:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
