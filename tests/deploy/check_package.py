#!/usr/bin/python3
"""check_package.py: casegate installed as a Debian daemon: `cmake --install`, the .deb, its man page and maintainer scripts.

Usage: check_package.py [install|man|deb|scripts|deps ...]   (no argument: all five, in that order)
  install  `cmake --install` of the build into scratch DESTDIRs (prefix /usr and /opt/casegate): every
           file where README's Install says, the config and the unit rewritten for the prefix.
  man      deploy/man/casegate.8 names every command, subcommand and option `casegate help` prints
           (so the two cannot drift), and its version is the project's.
  deb      `cpack -G DEB` from the build into a scratch dir; `dpkg-deb -I/-c` (name, version, Depends,
           maintainer scripts and modes, the examples); `dpkg-deb -e`: conffiles names every file under
           /etc/casegate; `dpkg-deb -x`: the binary runs, the config is valid, `systemd-analyze verify`
           passes on the unit with the extracted root's paths.
  scripts  the .deb's own postinst, prerm, postrm (`dpkg-deb -e`; the .deb is built if `deb` did not
           run), byte for byte deploy/debian/'s, under `sh -n` and shellcheck, then run with DPKG_ROOT
           at a scratch root and the system tools (adduser, getent, chown, systemctl,
           dpkg-statoverride) replaced by stubs that log: nothing on this machine changes.
  deps     every library `readelf -d` lists as NEEDED by the build's casegate has its row in README's
           Dependencies table; every tool this script can skip for is in deploy/install-deps.sh's
           skip-tools table with a package `install-deps.sh test` installs.
Exit 0 pass, 1 fail (each problem printed as "got X, want Y"), 77 skipped (a tool is missing: the
CASEGATE-SKIP line names it). Paths: CG_SOURCE_DIR (repo), CG_BINARY_DIR (the build, casegate built).
Scratch dirs are made under CG_BINARY_DIR and removed at the end.
"""
import gzip
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

SRC = os.environ.get("CG_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CG_BINARY_DIR") or os.path.join(SRC, "build")
SKIP = 77
PARTS = ["install", "man", "deb", "scripts", "deps"]
# Every tool a part skips for (the `tool=` of its CASEGATE-SKIP line). `deps` checks each is in
# deploy/install-deps.sh's skip-tools table, so under CI=true deploy/dev.sh fails on the skip.
SKIP_TOOLS = ("groff", "cpack", "dpkg-deb", "dpkg-shlibdeps", "systemd-analyze", "shellcheck", "readelf",
              "ldd", "dpkg")
problems = []
where = "?"
built = {}  # the .deb, once built: "deb" (its path), "ctrl" (its control archive, `dpkg-deb -e`)


def skip_note(tool, reason):
    """A check left out for a missing tool, in the line deploy/dev.sh summarises (see tests/harness/harness.h)."""
    need(tool in SKIP_TOOLS, "skip_note(%r): not in SKIP_TOOLS, so `deps` does not hold install-deps.sh to it" % tool)
    print("CASEGATE-SKIP tool=%s test=check_package.py/%s: %s" % (tool, where, reason), flush=True)


def bad(msg):
    problems.append(msg)
    print("FAIL: %s: %s" % (where, msg), file=sys.stderr)


def need(cond, msg):
    if not cond:
        bad(msg)
    return cond


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def project_version():
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(casegate VERSION ([0-9.]+)", f.read(), re.M)
    return m.group(1)


def conf_rules():
    return sorted(f for f in os.listdir(os.path.join(SRC, "conf", "mail-rules")) if f.endswith(".yaml"))


def unit_keys(text):
    keys = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            keys.setdefault(m.group(1), []).append(m.group(2))
    return keys


def check_tree(root, prefix, etc, unitdir, what):
    """The files of an install at `prefix` (config in `etc`, unit in `unitdir`) under `root`."""
    def at(p):
        return os.path.join(root, p.lstrip("/"))
    exe = prefix + "/bin/casegate"
    doc = prefix + "/share/doc/casegate"
    want = [exe, prefix + "/share/man/man8/casegate.8.gz", doc + "/README.md",
            doc + "/examples/nginx-casegate.conf", doc + "/examples/postfix-transport.example",
            doc + "/examples/prometheus-rules.yml", doc + "/examples/grafana-dashboard.json",
            doc + "/examples/zabbix/media_casegate.yaml",
            etc + "/casegate/casegate.yaml", etc + "/casegate/casegate.env", unitdir + "/casegate.service"]
    want += [etc + "/casegate/mail-rules/" + r for r in conf_rules()]
    for p in want:
        need(os.path.isfile(at(p)), "%s: got no %s, want it installed" % (what, p))
    need(os.access(at(exe), os.X_OK), "%s: %s not executable" % (what, exe))
    need(not os.path.exists(at(prefix + "/bin/casegate-sim")),
         "%s: got %s/bin/casegate-sim installed, want only casegate (the simulator is the tests')" % (what, prefix))
    for p, mode in [(etc + "/casegate/casegate.env", 0o600), (etc + "/casegate/casegate.yaml", 0o640)]:
        if os.path.exists(at(p)):
            got = stat.S_IMODE(os.stat(at(p)).st_mode)
            need(got == mode, "%s: %s mode got %o, want %o" % (what, p, got, mode))
    if os.path.isfile(at(etc + "/casegate/casegate.yaml")):
        with open(at(etc + "/casegate/casegate.yaml")) as f:
            conf = f.read()
        need(re.search(r"^state_dir: /var/lib/casegate$", conf, re.M),
             "%s: casegate.yaml state_dir: got %r, want /var/lib/casegate (the unit's StateDirectory)" %
             (what, re.findall(r"^state_dir:.*$", conf, re.M)))
    if os.path.isfile(at(unitdir + "/casegate.service")):
        with open(at(unitdir + "/casegate.service")) as f:
            keys = unit_keys(f.read())
        conf = etc + "/casegate/casegate.yaml"
        for k, want_v in [("ExecStart", "%s run -c %s" % (exe, conf)),
                          ("ExecStartPre", "%s check-config -c %s" % (exe, conf)),
                          ("ExecReload", "%s reload -c %s" % (exe, conf)),
                          ("EnvironmentFile", "-%s/casegate/casegate.env" % etc),
                          ("StateDirectory", "casegate"), ("User", "casegate"),
                          ("Documentation", "file://%s/README.md" % doc)]:
            need(keys.get(k) == [want_v], "%s: unit %s: got %r, want %r" % (what, k, keys.get(k), [want_v]))
        # The state_dir the config names is the one systemd makes for StateDirectory=casegate.
        need(keys.get("WorkingDirectory") == ["/var/lib/casegate"],
             "%s: unit WorkingDirectory: got %r, want /var/lib/casegate" % (what, keys.get("WorkingDirectory")))


def env_for_config():
    """The variables casegate.env.example names, with dummy values (as systemd would give them)."""
    env = dict(os.environ)
    with open(os.path.join(SRC, "deploy", "casegate.env.example")) as f:
        for line in f:
            m = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
            if m:
                env[m.group(1)] = "dummy-" + m.group(1).lower()
    return env


def check_config_valid(exe, conf, what):
    r = run([exe, "check-config", "-c", conf], env=env_for_config(), timeout=30)
    out = (r.stdout + r.stderr).strip()
    need(r.returncode == 0 and "warning" not in out,
         "%s: casegate check-config -c %s: got exit %d (%s), want 0 and no warning" % (what, conf, r.returncode, out))


# ---------------------------------------------------------------- install

def check_install(tmp):
    for prefix, etc, unitdir in [("/usr", "/etc", "/lib/systemd/system"),
                                 ("/opt/casegate", "/opt/casegate/etc", "/opt/casegate/lib/systemd/system")]:
        root = tempfile.mkdtemp(prefix="destdir-", dir=tmp)
        env = dict(os.environ, DESTDIR=root)
        r = run(["cmake", "--install", BIN, "--prefix", prefix], env=env, timeout=300)
        what = "cmake --install --prefix %s" % prefix
        if not need(r.returncode == 0, "%s: got exit %d: %s" % (what, r.returncode, (r.stdout + r.stderr)[-2000:])):
            continue
        check_tree(root, prefix, etc, unitdir, what)
        # Installed again over an edited config: the admin's files stay (secrets are in them).
        env_file = os.path.join(root, etc.lstrip("/"), "casegate", "casegate.env")
        conf_file = os.path.join(root, etc.lstrip("/"), "casegate", "casegate.yaml")
        if os.path.isfile(env_file) and os.path.isfile(conf_file):
            for f in (env_file, conf_file):
                with open(f, "a") as fh:
                    fh.write("# edited by the admin\n")
            r = run(["cmake", "--install", BIN, "--prefix", prefix], env=env, timeout=300)
            need(r.returncode == 0, "%s (again): got exit %d: %s" % (what, r.returncode, (r.stdout + r.stderr)[-2000:]))
            for f in (env_file, conf_file):
                with open(f) as fh:
                    need(fh.read().endswith("# edited by the admin\n"),
                         "%s (again): %s got overwritten, want the admin's edit kept" % (what, f))
                need("Keeping: " + f in r.stdout, "%s (again): got no `Keeping: %s` in its output" % (what, f))
        # Nothing outside the prefix but the system files (config and unit).
        allowed = [prefix.lstrip("/")] + [p.lstrip("/") for p in (etc, unitdir)]
        for dirpath, _, files in os.walk(root):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                need(any(rel.startswith(a + "/") for a in allowed),
                     "%s: got %s, want files only under %s" % (what, "/" + rel, ", ".join("/" + a for a in allowed)))
    return 0


# ---------------------------------------------------------------- man

def man_text(src):
    """The man page's text with groff escapes undone enough to compare words."""
    t = src.replace("\\-", "-").replace("\\(aq", "'")
    return re.sub(r"\\f[BIRP]", "", t)


def help_lines(exe):
    r = run([exe, "help"], timeout=30)
    need(r.returncode == 0, "casegate help: got exit %d, want 0" % r.returncode)
    return [l for l in r.stdout.splitlines() if l.startswith("  casegate ")]


def check_man_page(src, exe, what):
    """Every command `casegate help` lists has an entry (.TP) of its own, every subcommand word and
    option in its usage appears; help/--help/-h and version/--version too; .TH says the version."""
    text = man_text(src)
    entries = set()
    lines = text.splitlines()
    for i, l in enumerate(lines[:-1]):
        if l.strip() == ".TP":
            m = re.match(r'^\.[BIR]*\s+"?([a-z-]+)', lines[i + 1])
            if m:
                entries.add(m.group(1))
    usage = help_lines(exe)
    need(len(usage) >= 10, "casegate help: got %d command lines, want every command" % len(usage))
    commands = []
    for l in usage:
        # The description column is the 46th (the continuation lines' indent): cut it off.
        syntax = (l[:45] if len(l) > 45 and l[43:45] == "  " and l[45] != " " else l).strip()
        words = syntax.split()
        commands.append(words[1])
        need(words[1] in entries, "%s: got no entry (.TP) for `casegate %s`, which `casegate help` lists" % (what, words[1]))
        for tok in re.findall(r"--?[a-z][a-z-]*|\b[a-z][a-z-]+\b", syntax):
            if tok == "casegate":
                continue
            pat = r"(?<![A-Za-z-])%s(?![A-Za-z-])" % re.escape(tok)
            need(re.search(pat, text), "%s: got no `%s`, which `casegate help` shows in: %s" % (what, tok, syntax))
    for tok, cmd in [("help", "help"), ("--help", "help"), ("-h", "help"), ("--version", "version")]:
        need(re.search(r"(?<![A-Za-z-])%s(?![A-Za-z-])" % re.escape(tok), text),
             "%s: got no `%s` (casegate %s)" % (what, tok, cmd))
    need("help" in entries, "%s: got no entry for `casegate help`" % what)
    m = re.search(r'^\.TH CASEGATE 8 "[^"]*" "casegate ([0-9.]+)"', src, re.M)
    need(m and m.group(1) == project_version(), "%s: .TH version: got %r, want casegate %s" %
         (what, m.group(1) if m else None, project_version()))
    return commands


def check_man():
    exe = os.path.join(BIN, "casegate")
    src_path = os.path.join(SRC, "deploy", "man", "casegate.8")
    with open(src_path) as f:
        src = f.read()
    check_man_page(src, exe, "deploy/man/casegate.8")
    # What the build installs is that page.
    built = os.path.join(BIN, "casegate.8.gz")
    if need(os.path.isfile(built), "got no %s, want the build to make it" % built):
        with gzip.open(built, "rt") as f:
            need(f.read() == src, "%s: got a different text from deploy/man/casegate.8, want the same (rebuild)" % built)
    # groff reads it without complaint.
    if shutil.which("groff"):
        r = run(["groff", "-man", "-Tutf8", "-ww", "-z", src_path], timeout=60)
        need(r.returncode == 0 and not r.stderr.strip(),
             "groff -man -ww: got exit %d: %s; want 0 and no warnings" % (r.returncode, r.stderr.strip()))
    else:
        skip_note("groff", "groff missing: the man page was not rendered")
    return 0


# ---------------------------------------------------------------- deb

def deb_tool_missing():
    """The first tool building and reading the .deb needs that is missing, or None."""
    for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps"):
        if not shutil.which(tool):
            return tool
    return None


def build_deb(tmp):
    """`cpack -G DEB` into tmp and `dpkg-deb -e` of it, once per run (deb and scripts share it).
    Returns the .deb's path or None (said why); a missing tool is the caller's to report."""
    if "deb" in built:
        return built["deb"]
    built["deb"] = None
    out = os.path.join(tmp, "deb")
    r = run(["cpack", "-G", "DEB", "-B", out, "--config", os.path.join(BIN, "CPackConfig.cmake")], timeout=400, cwd=BIN)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
    if not need(r.returncode == 0 and len(debs) == 1, "cpack -G DEB: got exit %d and %r: %s; want one .deb" %
                (r.returncode, debs, (r.stdout + r.stderr)[-3000:])):
        return None
    deb = os.path.join(out, debs[0])
    ctrl = os.path.join(tmp, "control")
    r = run(["dpkg-deb", "-e", deb, ctrl], timeout=60)
    if not need(r.returncode == 0, "dpkg-deb -e: got exit %d: %s" % (r.returncode, r.stderr.strip())):
        return None
    built.update(deb=deb, ctrl=ctrl)
    return deb


def check_deb(tmp):
    tool = deb_tool_missing()
    if tool:
        skip_note(tool, "%s missing: no .deb built (cpack is cmake's, dpkg-shlibdeps dpkg-dev's: "
                  "deploy/install-deps.sh test)" % tool)
        return SKIP
    deb = build_deb(tmp)
    if not deb:
        return 1
    debs = [os.path.basename(deb)]
    version = project_version()
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    need(debs[0] == "casegate_%s_%s.deb" % (version, arch), "file name: got %s, want casegate_%s_%s.deb" %
         (debs[0], version, arch))

    # The control fields.
    def field(name):
        r = run(["dpkg-deb", "-f", deb, name])
        return r.stdout.strip()
    need(field("Package") == "casegate", "Package: got %r, want casegate" % field("Package"))
    need(field("Version") == version, "Version: got %r, want %s (project(casegate VERSION ...))" %
         (field("Version"), version))
    need(field("Architecture") == arch, "Architecture: got %r, want %s" % (field("Architecture"), arch))
    need(field("Maintainer"), "Maintainer: got none")
    depends = [d.strip().split()[0] for d in field("Depends").split(",") if d.strip()]
    for lib in ("adduser", "libc6", "libuv1", "libcurl4", "libgmime-3.0-0", "libsqlite3-0", "libpq5", "libyaml-0-2",
                "libssl3", "libcjson1"):
        need(lib in depends, "Depends: got %r, want %s in it" % (field("Depends"), lib))
    info = run(["dpkg-deb", "-I", deb]).stdout
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        need(re.search(r"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+%s\b" % script, info, re.M),
             "dpkg-deb -I: got no %s in the control archive:\n%s" % (script, info))

    # Control members' modes: the scripts executable, conffiles not.
    ctrl = os.path.join(tmp, "control.tar")
    with open(ctrl, "wb") as f:
        subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], stdout=f, check=True, timeout=60)
    with tarfile.open(ctrl) as t:
        modes = {os.path.basename(m.name): m.mode for m in t.getmembers() if m.isfile()}
    for script in ("postinst", "prerm", "postrm"):
        need(modes.get(script) == 0o755, "control %s mode: got %s, want 755" % (script, oct(modes.get(script, 0))))
    need(modes.get("conffiles") == 0o644, "control conffiles mode: got %s, want 644" % oct(modes.get("conffiles", 0)))

    # conffiles (from the control archive as dpkg unpacks it): every file under /etc and nothing else.
    conffiles = []
    path = os.path.join(built["ctrl"], "conffiles")
    if need(os.path.isfile(path), "dpkg-deb -e: got no conffiles in the control archive"):
        with open(path) as f:
            conffiles = sorted(f.read().split())
    listing = run(["dpkg-deb", "-c", deb]).stdout
    files = {}
    for l in listing.splitlines():
        parts = l.split(None, 5)
        if len(parts) == 6 and not parts[0].startswith("d"):
            files["/" + parts[5].lstrip("./").split(" -> ")[0]] = (parts[0], parts[1])
    etc_files = sorted(p for p in files if p.startswith("/etc/"))
    want_conf = sorted(["/etc/casegate/casegate.yaml", "/etc/casegate/casegate.env"] +
                       ["/etc/casegate/mail-rules/" + r for r in conf_rules()])
    need(conffiles == want_conf, "conffiles: got %r, want %r" % (conffiles, want_conf))
    need(etc_files == want_conf, "files under /etc: got %r, want %r (each a conffile)" % (etc_files, want_conf))
    for p in etc_files:
        need(p in conffiles, "conffiles: got no %s, which the package installs under /etc, want each listed" % p)
    for p in conffiles:
        need(p in files, "conffiles: got %s, which the package does not ship" % p)
    for p in ("/usr/share/doc/casegate/examples/grafana-dashboard.json",
              "/usr/share/doc/casegate/examples/prometheus-rules.yml"):
        need(p in files, "dpkg-deb -c: got no %s, want it in the package" % p)
    for p, (mode, owner) in files.items():
        need(owner == "root/root", "dpkg-deb -c: %s owned by %s, want root/root" % (p, owner))
        need(not p.startswith("/usr/local/"), "dpkg-deb -c: got %s, want nothing under /usr/local" % p)
    need(files.get("/etc/casegate/casegate.env", ("",))[0] == "-rw-------",
         "casegate.env mode: got %r, want -rw------- (secrets)" % (files.get("/etc/casegate/casegate.env", ("",))[0],))
    need("/usr/bin/casegate-sim" not in files, "got /usr/bin/casegate-sim in the package, want only casegate")

    # Unpacked: the same tree as `cmake --install --prefix /usr`, and it works.
    root = os.path.join(tmp, "root")
    r = run(["dpkg-deb", "-x", deb, root], timeout=60)
    if not need(r.returncode == 0, "dpkg-deb -x: got exit %d: %s" % (r.returncode, r.stderr)):
        return 1
    check_tree(root, "/usr", "/etc", "/lib/systemd/system", "the .deb")
    exe = os.path.join(root, "usr", "bin", "casegate")
    r = run([exe, "version"], timeout=30)
    need(r.returncode == 0 and r.stdout.strip() == "casegate %s" % version,
         "%s version: got exit %d %r, want 'casegate %s'" % (exe, r.returncode, r.stdout.strip(), version))
    r = run([exe, "--help"], timeout=30)
    need(r.returncode == 0 and "casegate run -c FILE" in r.stdout, "%s --help: got exit %d %r" %
         (exe, r.returncode, r.stdout[:200]))
    conf = os.path.join(root, "etc", "casegate", "casegate.yaml")
    check_config_valid(exe, conf, "the .deb's config")
    with gzip.open(os.path.join(root, "usr", "share", "man", "man8", "casegate.8.gz"), "rt") as f:
        check_man_page(f.read(), exe, "the .deb's man page")
    verify_unit(root, tmp)
    return 0


def verify_unit(root, tmp):
    """systemd-analyze verify on the packaged unit. `--root=` wants a whole systemd tree (sysinit.target
    and friends) the package does not have, so the unit is verified in place of the host's with its
    paths pointed into the extracted root: the binary it starts is the packaged one."""
    if not shutil.which("systemd-analyze"):
        skip_note("systemd-analyze", "systemd-analyze missing: the packaged unit was not verified")
        return
    path = os.path.join(root, "lib", "systemd", "system", "casegate.service")
    if not os.path.isfile(path):
        return  # check_tree said so
    with open(path) as f:
        unit = f.read()
    for p in ("/usr/bin/casegate", "/etc/casegate/"):
        need(p in unit, "packaged unit: got no %s in it" % p)
    unit = unit.replace("/usr/bin/casegate", os.path.join(root, "usr/bin/casegate"))
    unit = unit.replace("/etc/casegate/", os.path.join(root, "etc/casegate/"))
    d = tempfile.mkdtemp(prefix="unit-", dir=tmp)
    local = os.path.join(d, "casegate.service")
    with open(local, "w") as f:
        f.write(unit)
    r = run(["systemd-analyze", "verify", local], timeout=60)
    out = (r.stdout + r.stderr).strip()
    need(r.returncode == 0 and not out, "systemd-analyze verify (packaged unit): got exit %d: %s; want 0 and no findings" %
         (r.returncode, out))


# ---------------------------------------------------------------- scripts

STUB = """#!/bin/sh
# stub %(name)s: logs its arguments instead of changing the machine.
echo "%(name)s $*" >>"%(log)s"
%(body)s
"""


def make_stubs(d, log, users_exist):
    os.makedirs(d, exist_ok=True)
    bodies = {
        # getent group/passwd casegate: the user exists or not, as the case wants.
        "getent": "exit 0" if users_exist else "exit 2",
        "adduser": "exit 0", "addgroup": "exit 0", "chown": "exit 0", "systemctl": "exit 0",
        # --list: registered on an upgrade (exit 0), not on a first install (exit 1)
        "dpkg-statoverride": 'case "$1" in --list) exit %d;; esac\nexit 0' % (0 if users_exist else 1),
    }
    for name, body in bodies.items():
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(STUB % {"name": name, "log": log, "body": body})
        os.chmod(p, 0o755)


def run_script(sdir, script, args, root, stubs, log):
    env = {"PATH": stubs + ":/usr/bin:/bin", "DPKG_ROOT": root, "LC_ALL": "C"}
    r = run(["/bin/sh", os.path.join(sdir, script)] + args, env=env, timeout=60)
    need(r.returncode == 0, "%s %s: got exit %d: %s, want 0" % (script, " ".join(args), r.returncode, r.stderr.strip()))
    calls = []
    if os.path.exists(log):
        with open(log) as f:
            calls = f.read().splitlines()
        os.unlink(log)
    return calls


def check_scripts(tmp):
    names = ("postinst", "prerm", "postrm")
    for n in names:
        s = os.path.join(SRC, "deploy", "debian", n)
        need(os.access(s, os.X_OK), "%s: not executable in the tree" % s)
    # What runs is what the .deb ships (its control archive), and that is deploy/debian/'s text.
    tool = deb_tool_missing()
    if tool:
        skip_note(tool, "%s missing: no .deb, so deploy/debian/'s maintainer scripts ran, not the package's" % tool)
        sdir = os.path.join(SRC, "deploy", "debian")
    else:
        if not build_deb(tmp):
            bad("got no .deb to take the maintainer scripts from (see cpack above)")
            return 1
        sdir = built["ctrl"]
        for n in names:
            got_p, want_p = os.path.join(sdir, n), os.path.join(SRC, "deploy", "debian", n)
            if need(os.path.isfile(got_p), "the .deb's control archive: got no %s" % n):
                with open(got_p, "rb") as a, open(want_p, "rb") as b:
                    need(a.read() == b.read(), "the .deb's %s: got a different text from deploy/debian/%s, want the "
                         "same bytes (the package ships what is tested; rebuild/reconfigure)" % (n, n))
    scripts = [os.path.join(sdir, n) for n in names]
    for s in scripts:
        r = run(["sh", "-n", s], timeout=30)
        need(r.returncode == 0, "sh -n %s: got exit %d: %s" % (s, r.returncode, r.stderr.strip()))
    if shutil.which("shellcheck"):
        r = run(["shellcheck", "-s", "sh"] + scripts, timeout=60)
        need(r.returncode == 0, "shellcheck: got exit %d:\n%s" % (r.returncode, r.stdout.strip()))
    else:
        skip_note("shellcheck", "shellcheck missing: maintainer scripts checked by sh -n only")

    root = os.path.join(tmp, "sroot")
    os.makedirs(os.path.join(root, "etc", "casegate"))
    log = os.path.join(tmp, "calls.log")
    new, old = os.path.join(tmp, "stubs-new"), os.path.join(tmp, "stubs-old")
    make_stubs(new, log, users_exist=False)
    make_stubs(old, log, users_exist=True)
    state = os.path.join(root, "var", "lib", "casegate")

    # First install, no systemd running: user and group made, state dir 0700 owned by casegate, the
    # config's statoverride, no systemctl.
    calls = run_script(sdir, "postinst", ["configure", ""], root, new, log)
    need("addgroup --system casegate" in calls, "postinst (first): got calls %r, want `addgroup --system casegate`" % calls)
    need(any(c.startswith("adduser --system") and c.endswith(" casegate") and "--ingroup casegate" in c
             and "--home /var/lib/casegate" in c for c in calls),
         "postinst (first): got calls %r, want `adduser --system --ingroup casegate --home /var/lib/casegate ... casegate`" % calls)
    need("dpkg-statoverride --update --add root casegate 0640 /etc/casegate/casegate.yaml" in calls,
         "postinst (first): got calls %r, want the config's statoverride root:casegate 0640" % calls)
    need(os.path.isdir(state) and stat.S_IMODE(os.stat(state).st_mode) == 0o700,
         "postinst (first): state dir %s: got %s, want a directory of mode 700" %
         (state, oct(stat.S_IMODE(os.stat(state).st_mode)) if os.path.exists(state) else "nothing"))
    need("chown casegate:casegate %s" % state in calls, "postinst (first): got calls %r, want the state dir chowned" % calls)
    need(not any(c.startswith("systemctl") for c in calls), "postinst without systemd: got %r, want no systemctl" % calls)

    # Upgrade with systemd running: the user exists (no adduser), the state dir stays (also as the
    # symlink an older unit's DynamicUser=yes left; systemd moves the state back on the next start),
    # systemd reloads.
    with open(os.path.join(state, "queue.db"), "w") as f:
        f.write("state")
    os.makedirs(os.path.join(root, "run", "systemd", "system"))
    calls = run_script(sdir, "postinst", ["configure", "0.0.9"], root, old, log)
    need(not any(c.startswith(("adduser", "addgroup", "chown", "dpkg-statoverride --update")) for c in calls),
         "postinst (upgrade): got calls %r, want no adduser/addgroup/chown/statoverride (all there already)" % calls)
    need(os.path.isfile(os.path.join(state, "queue.db")), "postinst (upgrade): state dir content gone")
    need("systemctl --system daemon-reload" in calls, "postinst with systemd: got calls %r, want daemon-reload" % calls)
    need("systemctl try-restart casegate.service" in calls,
         "postinst (upgrade, service active): got calls %r, want a try-restart (the new binary runs)" % calls)
    need(not any(c.startswith("systemctl enable") or c.startswith("systemctl start") for c in calls),
         "postinst: got calls %r, want the service neither enabled nor started (it needs keys first)" % calls)
    run_script(sdir, "postinst", ["abort-upgrade", "0.0.9"], root, old, log)
    r = run(["/bin/sh", scripts[0], "bogus"], env={"PATH": old + ":/usr/bin:/bin", "DPKG_ROOT": root}, timeout=30)
    need(r.returncode != 0 and "bogus" in r.stderr, "postinst bogus: got exit %d %r, want an error naming it" %
         (r.returncode, r.stderr))

    calls = run_script(sdir, "prerm", ["remove"], root, old, log)
    need("systemctl stop casegate.service" in calls, "prerm remove: got calls %r, want the service stopped" % calls)
    calls = run_script(sdir, "prerm", ["upgrade", "0.2.0"], root, old, log)
    need(not calls, "prerm upgrade: got calls %r, want none (postinst restarts)" % calls)

    # remove keeps the state; purge deletes it (and the private copy an older unit with
    # DynamicUser=yes may have left), keeps the user.
    private = os.path.join(root, "var", "lib", "private", "casegate")
    os.makedirs(private)
    calls = run_script(sdir, "postrm", ["remove"], root, old, log)
    need(os.path.isdir(state) and os.path.isdir(private), "postrm remove: got the state deleted, want it kept")
    need("systemctl --system daemon-reload" in calls, "postrm remove: got calls %r, want daemon-reload" % calls)
    calls = run_script(sdir, "postrm", ["purge"], root, old, log)
    need("dpkg-statoverride --remove /etc/casegate/casegate.yaml" in calls,
         "postrm purge: got calls %r, want the config's statoverride removed" % calls)
    need(not os.path.exists(state) and not os.path.exists(private),
         "postrm purge: got the state dir kept, want %s and %s deleted" % (state, private))
    need(not os.path.exists(os.path.join(root, "etc", "casegate")), "postrm purge: got /etc/casegate kept, want it gone")
    need(not any(c.startswith(("deluser", "delgroup")) for c in calls), "postrm purge: got %r, want the user kept" % calls)
    need(os.path.isdir(os.path.join(root, "run")), "postrm purge: scratch root damaged")
    return 0


# ---------------------------------------------------------------- deps

# NEEDED entries that are not README rows: the C library itself (libc6) and what the kernel maps,
# and the sanitizer runtimes an ASan/UBSan build (-DCG_SANITIZE=ON) adds: not casegate's dependencies.
BASE_LIBS = re.compile(r"^(libc\.so|libm\.so|ld-linux|linux-vdso|libasan\.so|libubsan\.so|liblsan\.so|libtsan\.so)")


def readme_dependency_rows():
    """The package names in the first column of README.md's `## Dependencies` table."""
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Dependencies\n(.*?)(?=^## )", text, re.M | re.S)
    rows = []
    for line in (m.group(1) if m else "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or not cells[0] or set(cells[0]) <= set("-") or cells[0] == "package":
            continue
        rows += [w.split()[0] for w in cells[0].split(",") if w.strip()]
    return rows


def package_of(path):
    """The Debian package that holds `path` (`dpkg -S`), trying the /usr-merged twin of the path:
    ldd says /lib/..., Debian 12's database may have /usr/lib/... (and the other way round)."""
    cands = [path, os.path.realpath(path)]
    cands += [c[4:] if c.startswith("/usr/") else "/usr" + c for c in list(cands)]
    for c in cands:
        r = run(["dpkg", "-S", c], timeout=30)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.splitlines()[0].split(": ", 1)[0].split(":")[0]
    return None


def check_libraries():
    """Each library the daemon links (readelf -d NEEDED) has its -dev row in README's Dependencies.
    The mapping, kept simple: the soname's file (where ldd finds it) -> its Debian package (`dpkg -S`,
    e.g. libuv.so.1 -> libuv1, libglib-2.0.so.0 -> libglib2.0-0) -> that name's stem, the package
    name less its trailing soname version (digits, dots, hyphens: libuv1 -> libuv, libyaml-0-2 ->
    libyaml, libglib2.0-0 -> libglib, libssl3 -> libssl). A README row covers the library when it
    names a `-dev` package starting with the stem (libuv1-dev, libssl-dev, libglib2.0-dev)."""
    exe = os.path.join(BIN, "casegate")
    for tool in ("readelf", "ldd", "dpkg"):
        if not shutil.which(tool):
            skip_note(tool, "%s missing: the daemon's libraries were not held to README's Dependencies" % tool)
            return SKIP
    r = run(["readelf", "-d", exe], timeout=30)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    if not need(r.returncode == 0 and needed, "readelf -d %s: got exit %d and no NEEDED" % (exe, r.returncode)):
        return 1
    r = run(["ldd", exe], timeout=30)
    where_is = dict(re.findall(r"^\s*(\S+) => (/\S+)", r.stdout, re.M))
    rows = readme_dependency_rows()
    need(len(rows) >= 5, "README ## Dependencies: got rows %r, want the table" % rows)
    for so in needed:
        if BASE_LIBS.match(so):
            continue
        path = where_is.get(so)
        if not need(path, "NEEDED %s: got no file for it from ldd %s" % (so, exe)):
            continue
        pkg = package_of(path)
        if not need(pkg, "NEEDED %s: dpkg -S %s: got no package" % (so, path)):
            continue
        stem = re.sub(r"[-.0-9]+$", "", pkg)
        need(any(row.startswith(stem) and row.endswith("-dev") for row in rows),
             "NEEDED %s (%s, Debian package %s): got no row in README's ## Dependencies for it, want a "
             "`%s...-dev` row (rows: %s)" % (so, path, pkg, stem, ", ".join(rows)))
    return 0


def install_deps_array(text, name):
    m = re.search(r"^%s=\(([^)]*)\)" % name, text, re.M)
    return m.group(1).split() if m else []


def check_skip_tools():
    """Each tool in SKIP_TOOLS is in `install-deps.sh skip-tools` (so under CI=true deploy/dev.sh
    fails on its skip), with a package `install-deps.sh test` installs (build_pkgs + test_pkgs)."""
    script = os.path.join(SRC, "deploy", "install-deps.sh")
    r = run(["bash", script, "skip-tools"], timeout=30)
    need(r.returncode == 0, "install-deps.sh skip-tools: got exit %d" % r.returncode)
    table = dict(l.split(None, 1) for l in r.stdout.splitlines() if len(l.split()) == 2)
    with open(script) as f:
        text = f.read()
    installed = install_deps_array(text, "build_pkgs") + install_deps_array(text, "test_pkgs")
    for tool in SKIP_TOOLS:
        if need(tool in table, "install-deps.sh skip-tools: got no row for %s, which check_package.py skips "
                "for, want `%s <package>`" % (tool, tool)):
            need(table[tool] in installed, "install-deps.sh: %s's package %s: got it in neither build_pkgs nor "
                 "test_pkgs, want `install-deps.sh test` to install it" % (tool, table[tool]))


def check_deps():
    check_skip_tools()
    return check_libraries()


def main():
    global where
    parts = sys.argv[1:] or PARTS
    if any(p not in PARTS for p in parts):
        print(__doc__, file=sys.stderr)
        return 2
    if not os.access(os.path.join(BIN, "casegate"), os.X_OK):
        print("FAIL: no %s/casegate: build first" % BIN, file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="check-package-", dir=BIN)
    skipped = []
    try:
        for p in parts:
            where = p
            sub = os.path.join(tmp, p)
            os.mkdir(sub)
            fn = {"install": check_install, "man": lambda _: check_man(), "deb": check_deb,
                  "scripts": check_scripts, "deps": lambda _: check_deps()}[p]
            if fn(sub) == SKIP:
                skipped.append(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        print("check_package: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    if skipped and len(skipped) == len(parts):
        return SKIP
    print("check_package: ok (%s)" % ", ".join(p + (" skipped" if p in skipped else "") for p in parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
