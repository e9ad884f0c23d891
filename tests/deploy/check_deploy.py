#!/usr/bin/python3
"""check_deploy.py: exercises every file in deploy/ for real: systemd, nginx, Docker, k8s, Postfix, alert rules,
Grafana dashboard.

Usage: check_deploy.py systemd|nginx|docker|k8s|postfix|rules|dashboard
Exit 0 pass, 1 fail (each problem printed as "got X, want Y"), 77 skipped (a tool is missing).
Paths: CG_SOURCE_DIR (repo) and CG_BINARY_DIR (build dir with casegate, casegate-sim).
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SRC = os.environ.get("CG_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CG_BINARY_DIR") or os.path.join(SRC, "build")
DEPLOY = os.path.join(SRC, "deploy")
SKIP = 77
WHAT = sys.argv[1] if len(sys.argv) > 1 else "?"


def skip_note(tool, reason):
    """A check left out for a missing tool, in the line deploy/dev.sh summarises (see tests/harness/harness.h)."""
    print("CASEGATE-SKIP tool=%s test=check_deploy.py/%s: %s" % (tool, WHAT, reason), flush=True)

problems = []


def bad(msg):
    problems.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def need(cond, msg):
    if not cond:
        bad(msg)
    return cond


def load_yaml_docs(path):
    import yaml
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def env_vars(text):
    """${VAR} references without a default (those must be provided)."""
    out = set()
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}", text):
        if not m.group(2):
            out.add(m.group(1))
    return out


def check_config_text(text, env, tmp, what):
    """Runs `casegate check-config` over a config text; returns True when valid."""
    path = os.path.join(tmp, "check.yaml")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run([os.path.join(BIN, "casegate"), "check-config", "-c", path], env=e,
                       capture_output=True, text=True, timeout=30)
    return need(r.returncode == 0, "%s: casegate check-config: got exit %d (%s), want 0" %
                (what, r.returncode, (r.stderr + r.stdout).strip()))


# ---------------------------------------------------------------- processes

class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def spawn(self, name, argv):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.procs.append((name, p, log))
        return p

    def log(self, name):
        with open(os.path.join(self.tmp, name + ".log")) as f:
            return f.read()

    def wait_port(self, name, needle, deadline_s=15):
        end = time.time() + deadline_s
        while time.time() < end:
            m = re.search(re.escape(needle) + r"(\d+)", self.log(name))
            if m:
                return int(m.group(1))
            time.sleep(0.02)
        raise RuntimeError("%s did not start: %s" % (name, self.log(name)[-2000:]))

    def stop_all(self):
        for name, p, log in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()


def start_casegate(procs, sources_yaml, extra=""):
    """casegate-sim + casegate on free ports; returns (gw_port, sim_port)."""
    procs.spawn("sim", [os.path.join(BIN, "casegate-sim"), "--listen", "127.0.0.1:0", "--no-auth"])
    sim_port = procs.wait_port("sim", "casegate-sim listening on 127.0.0.1:")
    cfg = os.path.join(procs.tmp, "casegate.yaml")
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:0\nstate_dir: %s/state\n%sdatadog:\n  api_key: k\n  app_key: k\nsources:\n%s"
                % (procs.tmp, extra, sources_yaml))
    os.chmod(cfg, 0o600)
    procs.spawn("casegate", [os.path.join(BIN, "casegate"), "run", "-c", cfg, "--datadog-url",
                             "http://127.0.0.1:%d" % sim_port])
    gw_port = procs.wait_port("casegate", "listening on 127.0.0.1:")
    return gw_port, sim_port


DEMO_SOURCE = """  - name: demo
    type: generic
    auth: { bearer: nginx-test-token }
    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e
    case_type: 00000000-0000-0000-0000-000000000001
    title: "{{title}}"
"""


def http(method, url, body=None, headers=None, ctx=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def poll(fn, deadline_s=15):
    end = time.time() + deadline_s
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def free_port():
    # nginx cannot report a port it picked: take one the kernel hands out and release it.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- systemd

def check_systemd():
    unit_path = os.path.join(DEPLOY, "casegate.service")
    with open(unit_path) as f:
        unit = f.read()
    keys = {}
    for line in unit.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            keys.setdefault(m.group(1), []).append(m.group(2))
    for k, want in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("User", "casegate"),
                    ("Group", "casegate"), ("StateDirectory", "casegate"), ("StateDirectoryMode", "0700"),
                    ("RemoveIPC", "yes"), ("PrivateTmp", "yes"), ("CapabilityBoundingSet", "")]:
        need(keys.get(k, [None])[0] == want, "unit %s: got %r, want %r" % (k, keys.get(k), want))
    # DynamicUser=yes would keep the state in /var/lib/private/casegate (0700 root): pipe mode,
    # which Postfix runs as user casegate, could never reach it (issue #20).
    need(keys.get("DynamicUser", ["no"])[-1] in ("no", "false", "0", "off"),
         "unit DynamicUser: got %r, want it unset (a static user casegate that Postfix's pipe can run as)" %
         keys.get("DynamicUser"))
    need(any("casegate reload" in v for v in keys.get("ExecReload", [])),
         "unit ExecReload: got %r, want `casegate reload -c ...` (validates before signalling)" % keys.get("ExecReload"))
    need(any("check-config" in v for v in keys.get("ExecStartPre", [])), "unit: no ExecStartPre check-config")
    need(any(v.startswith("-/etc/casegate/casegate.env") for v in keys.get("EnvironmentFile", [])),
         "unit EnvironmentFile: got %r" % keys.get("EnvironmentFile"))

    # The example config with the env file's variables (dummy values) is valid as shipped.
    with open(os.path.join(SRC, "conf", "casegate.yaml")) as f:
        conf = f.read()
    env = {}
    with open(os.path.join(DEPLOY, "casegate.env.example")) as f:
        for line in f:
            m = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
            if m:
                env[m.group(1)] = "dummy-" + m.group(1).lower()
    missing = env_vars(conf) - set(env)
    need(not missing, "casegate.env.example: got no entry for %s, used by conf/casegate.yaml" % sorted(missing))
    with tempfile.TemporaryDirectory() as tmp:
        # Relative paths in the example are relative to its directory: keep it next to a copy.
        check_config_text(conf.replace("state_dir: ./var", "state_dir: %s/var" % tmp), env, tmp, "conf/casegate.yaml")

        if not shutil.which("systemd-analyze"):
            skip_note("systemd-analyze", "systemd-analyze missing: unit verified by parsing only")
            return
        local = os.path.join(tmp, "casegate.service")
        with open(local, "w") as f:
            f.write(unit.replace("/usr/bin/casegate", os.path.join(BIN, "casegate")))
        r = subprocess.run(["systemd-analyze", "verify", local], capture_output=True, text=True, timeout=60)
        out = (r.stdout + r.stderr).strip()
        need(r.returncode == 0 and "Unknown" not in out and "Failed" not in out,
             "systemd-analyze verify: got exit %d: %s; want 0 and no findings" % (r.returncode, out))
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", local], capture_output=True, text=True,
                           timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        # Measured: 1.2 with systemd 252 (the same as with DynamicUser=yes before #20: a static
        # non-root User= scores alike, RemoveIPC=yes says what DynamicUser implied). Any hardening
        # line lost shows here.
        if m:
            need(float(m.group(1)) <= 1.2, "systemd-analyze security: got exposure %s, want <= 1.2" % m.group(1))
        else:
            print("systemd-analyze security --offline unavailable: %s" % (r.stdout + r.stderr)[-300:], file=sys.stderr)


# ---------------------------------------------------------------- nginx

def adapt_nginx(sample, port, gw_port, cert, key):
    subs = [("listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % port),
            ("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % gw_port),
            ("/etc/ssl/certs/alerts.example.com.pem", cert),
            ("/etc/ssl/private/alerts.example.com.key", key)]
    for old, new in subs:
        n = sample.count(old)
        if n != 1:
            raise RuntimeError("nginx sample: got %d occurrences of %r, want 1 (update the test with the sample)" % (n, old))
        sample = sample.replace(old, new)
    return sample


def check_nginx():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx or not shutil.which("openssl"):
        skip_note("nginx" if not nginx else "openssl", "nginx or openssl missing: the nginx sample not run")
        return SKIP
    with open(os.path.join(DEPLOY, "nginx-casegate.conf")) as f:
        sample = f.read()
    tmp = tempfile.mkdtemp(prefix="cg-nginx-")
    procs = Procs(tmp)
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=alerts.example.com", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        gw_port, sim_port = start_casegate(procs, DEMO_SOURCE)
        port = free_port()
        with open(os.path.join(tmp, "casegate.conf"), "w") as f:
            f.write(adapt_nginx(sample, port, gw_port, cert, key))
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.mkdir(os.path.join(tmp, d))
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write("%sdaemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                    "events { worker_connections 128; }\nhttp {\n  access_log %s/access.log;\n"
                    "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
                    "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n"
                    "  include %s/casegate.conf;\n}\n" % ((user,) + (tmp,) * 9))
        r = subprocess.run([nginx, "-t", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf")], capture_output=True,
                           text=True, timeout=30)
        if not need(r.returncode == 0, "nginx -t: got exit %d: %s" % (r.returncode, r.stderr.strip())):
            return 1
        procs.spawn("nginx", [nginx, "-p", tmp, "-c", os.path.join(tmp, "nginx.conf")])
        base = "https://127.0.0.1:%d" % port
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False
        if not need(poll(up, 10), "nginx did not listen on %d: %s" % (port, procs.log("nginx")[-1000:])):
            return 1

        auth = {"Authorization": "Bearer nginx-test-token", "Content-Type": "application/json"}
        body = json.dumps({"title": "Through nginx", "status": "firing", "id": "via-proxy"}).encode()
        st, text, _ = http("POST", base + "/hooks/demo", body, auth, ctx)
        need(st == 202 and '"accepted":1' in text, "webhook through nginx: got %d %s, want 202 accepted 1" % (st, text))
        st, text, _ = http("POST", base + "/hooks/demo", body, {"Authorization": "Bearer wrong"}, ctx)
        need(st == 401, "bad token through nginx: got %d, want 401 from casegate" % st)
        st, _, _ = http("GET", base + "/metrics", None, None, ctx)
        need(st == 404, "GET /metrics through nginx: got %d, want 404 (internal only)" % st)
        st, _, _ = http("POST", base + "/hooks/demo", b"x" * (1024 * 1024 + 10), auth, ctx)
        need(st == 413, "1 MiB + 10 body through nginx: got %d, want 413" % st)

        def case_there():
            _, t, _ = http("GET", "http://127.0.0.1:%d/_sim/cases" % sim_port)
            return "Through nginx" in t
        need(poll(case_there, 15), "case from the proxied webhook: not in the simulator")
        if shutil.which("curl"):
            r = subprocess.run(["curl", "-sS", "--http2", "--cacert", cert, "-o", "/dev/null", "-w",
                                "%{http_version} %{http_code}", "--resolve", "alerts.example.com:%d:127.0.0.1" % port,
                                "-H", "Authorization: Bearer nginx-test-token", "-H", "Content-Type: application/json",
                                "--data-binary", '{"title":"h2","status":"firing","id":"h2"}',
                                "https://alerts.example.com:%d/hooks/demo" % port],
                               capture_output=True, text=True, timeout=30)
            need(r.stdout.strip() == "2 202", "curl --http2 through nginx: got %r %s, want '2 202'" %
                 (r.stdout, r.stderr.strip()))
        # Every webhook went through the proxy. nginx logs a request when it frees it, which for
        # the 413 comes after its lingering close, so after the client has its answer: poll.
        def logged():
            with open(os.path.join(tmp, "access.log")) as f:
                return f.read().count("/hooks/demo") >= 4
        need(poll(logged, 15), "nginx access log: fewer than 4 webhook lines after 15 s")
    finally:
        procs.stop_all()
        if not problems:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp, file=sys.stderr)
    return 0


# ---------------------------------------------------------------- Dockerfile

def dockerfile_instructions(text):
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        lines.append(cur)
        cur = ""
    out = []
    for l in lines:
        parts = l.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
    return out


def apt_packages(run_arg):
    m = re.search(r"apt-get install ([^&;]*)", run_arg)
    if not m:
        return None
    return [w for w in m.group(1).split() if not w.startswith("-")]


def install_deps_list(name):
    with open(os.path.join(DEPLOY, "install-deps.sh")) as f:
        text = f.read()
    m = re.search(r"%s=\(([^)]*)\)" % name, text)
    return m.group(1).split() if m else None


def package_of(path):
    r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    if r.returncode != 0:
        real = os.path.realpath(path)
        r = subprocess.run(["dpkg-query", "-S", real], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return r.stdout.split(":")[0].strip()


def check_docker():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        ins = dockerfile_instructions(f.read())
    stages = [i for i, (k, _) in enumerate(ins) if k == "FROM"]
    if not need(len(stages) >= 2, "Dockerfile: got %d FROM, want a multi-stage build" % len(stages)):
        return 1
    first = ins[stages[0]][1].split()
    need(len(first) == 3 and first[1].upper() == "AS", "Dockerfile: first stage not named: FROM %s" % " ".join(first))
    build_name = first[2] if len(first) == 3 else None
    final_from = ins[stages[-1]][1].split()[0]
    need(final_from.startswith("debian:") and "slim" in final_from, "Dockerfile final base: got %s, want Debian slim" % final_from)
    build = ins[stages[0]:stages[1]]
    final = ins[stages[-1]:]

    want = install_deps_list("build_pkgs")
    got = None
    for k, arg in build:
        if k == "RUN" and "apt-get install" in arg:
            got = apt_packages(arg)
    need(want is not None and got is not None and sorted(got) == sorted(want),
         "Dockerfile build packages: got %s, want install-deps.sh build_pkgs %s" % (got, want))

    users = [arg for k, arg in final if k == "USER"]
    need(users and users[-1].split(":")[0] not in ("root", "0"), "Dockerfile: final USER %r, want non-root" % users)
    hc = [arg for k, arg in final if k == "HEALTHCHECK"]
    need(hc and "/healthz" in hc[-1], "Dockerfile: HEALTHCHECK %r, want one on /healthz" % hc)
    need(any(k == "COPY" and ("--from=%s" % build_name) in arg for k, arg in final),
         "Dockerfile: final stage does not COPY --from=%s" % build_name)
    ent = [arg for k, arg in final if k == "ENTRYPOINT"]
    need(ent and "casegate" in ent[-1], "Dockerfile ENTRYPOINT: got %r" % ent)
    for k, arg in ins:
        if k == "COPY" and "--from" not in arg:
            src = arg.split()[0]
            need(src == "." or os.path.exists(os.path.join(SRC, src)), "Dockerfile COPY source %s missing" % src)

    # Every library the binary links directly comes from a package the runtime stage installs.
    runtime = None
    for k, arg in final:
        if k == "RUN" and "apt-get install" in arg:
            runtime = apt_packages(arg) or []
    binary = os.path.join(BIN, "casegate")
    if runtime is not None and os.path.exists(binary) and shutil.which("readelf") and shutil.which("ldconfig"):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout)
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        # Packages apt pulls in with the listed ones (libgmime brings libglib) count as installed.
        provided = set(runtime)
        for pkg in runtime:
            deps = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", pkg], capture_output=True, text=True).stdout
            provided.update(re.findall(r"(?:^|[,|]\s*)([a-z0-9][a-z0-9.+\-]+)", deps))
        for so in needed:
            m = re.search(r"^\s+%s \(.*x86-64.*\) => (\S+)$" % re.escape(so), cache, re.M) or \
                re.search(r"^\s+%s \(.*\) => (\S+)$" % re.escape(so), cache, re.M)
            if not m:
                continue
            pkg = package_of(m.group(1))
            if pkg and pkg not in ("libc6",) and not pkg.startswith("libasan") and not pkg.startswith("libubsan"):
                need(pkg in provided, "Dockerfile runtime packages: %s (for %s) missing from %s" % (pkg, so, runtime))
    return 0


# ---------------------------------------------------------------- Kubernetes

def check_k8s():
    docs = load_yaml_docs(os.path.join(DEPLOY, "k8s", "casegate.yaml"))
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim"):
        if not need(len(by_kind.get(kind, [])) == 1, "k8s: got %d %s, want 1" % (len(by_kind.get(kind, [])), kind)):
            return 1
    dep, svc, cm, sec, pvc = (by_kind[k][0] for k in ("Deployment", "Service", "ConfigMap", "Secret",
                                                      "PersistentVolumeClaim"))
    spec = dep["spec"]
    need(spec.get("replicas") == 1 and spec.get("strategy", {}).get("type") == "Recreate",
         "Deployment: got replicas %r strategy %r, want 1 and Recreate (one SQLite writer)" %
         (spec.get("replicas"), spec.get("strategy")))
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    need(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
         "Deployment selector %r does not match pod labels %r" % (spec["selector"]["matchLabels"], labels))
    need(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()),
         "Service selector %r does not match pod labels %r" % (svc["spec"]["selector"], labels))
    psc = pod["spec"].get("securityContext", {})
    need(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
         "pod securityContext: got %r, want runAsNonRoot and a non-zero runAsUser" % psc)
    c = pod["spec"]["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        g = c.get(probe, {}).get("httpGet", {})
        need(g.get("path") == path and (g.get("port") in ports or g.get("port") in ports.values()),
             "%s: got %r, want httpGet %s on a container port" % (probe, g, path))
    res = c.get("resources", {})
    need(res.get("requests", {}).get("memory") and res.get("requests", {}).get("cpu") and
         res.get("limits", {}).get("memory"), "resources: got %r, want cpu/memory requests and a memory limit" % res)
    csc = c.get("securityContext", {})
    need(csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True and
         "ALL" in csc.get("capabilities", {}).get("drop", []),
         "container securityContext: got %r, want no privilege escalation, read-only root, drop ALL" % csc)
    vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    state_vol = [n for n, v in vols.items() if v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"]]
    cfg_vol = [n for n, v in vols.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
    need(state_vol and state_vol[0] in mounts, "no mounted volume from the PVC %s" % pvc["metadata"]["name"])
    need(cfg_vol and cfg_vol[0] in mounts, "no mounted volume from the ConfigMap %s" % cm["metadata"]["name"])
    need(any(e.get("secretRef", {}).get("name") == sec["metadata"]["name"] for e in c.get("envFrom", [])),
         "container envFrom does not reference the Secret %s" % sec["metadata"]["name"])
    svc_target = [p.get("targetPort") for p in svc["spec"]["ports"]]
    need(all(t in ports or t in ports.values() for t in svc_target), "Service targetPort %r not a container port" % svc_target)

    import yaml
    conf_text = cm["data"]["casegate.yaml"]
    conf = yaml.safe_load(conf_text)
    args = c.get("args", [])
    cpath = args[args.index("-c") + 1] if "-c" in args else None
    need(cfg_vol and cpath == os.path.join(mounts.get(cfg_vol[0], "?"), "casegate.yaml"),
         "container -c %r is not the ConfigMap's casegate.yaml under %r" % (cpath, mounts.get(cfg_vol[0] if cfg_vol else "")))
    need(state_vol and conf.get("state_dir") == mounts.get(state_vol[0]),
         "config state_dir %r is not the PVC mount %r" % (conf.get("state_dir"), mounts.get(state_vol[0] if state_vol else "")))
    lport = int(str(conf.get("listen", ":0")).rsplit(":", 1)[1])
    need(lport in ports.values(), "config listen port %d is not a container port %r" % (lport, ports))
    need(str(conf.get("listen", "")).startswith("0.0.0.0:") or str(conf.get("listen", "")).startswith("[::]:"),
         "config listen %r: want all interfaces inside the pod" % conf.get("listen"))
    secret_keys = set(sec.get("stringData", {}) or {}) | set(sec.get("data", {}) or {})
    missing = env_vars(conf_text) - secret_keys
    need(not missing, "Secret lacks %s used by the ConfigMap's config" % sorted(missing))
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: "dummy-" + k.lower() for k in secret_keys}
        check_config_text(conf_text.replace("state_dir: %s" % conf.get("state_dir"), "state_dir: %s/state" % tmp),
                          env, tmp, "k8s ConfigMap casegate.yaml")
    return 0


# ---------------------------------------------------------------- Postfix

def check_postfix():
    path = os.path.join(DEPLOY, "postfix-transport.example")
    with open(path) as f:
        text = f.read()
    entries = [l.split() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    # Pipe mode, commented out: the master.cf service (its first line and indented continuations)
    # and the transport entry that names it.
    m = re.search(r"^#   (casegate-\S+) (unix .*pipe)\n((?:#     .*\n)+)", text, re.M)
    if not need(m is not None, "postfix-transport.example: got no commented master.cf pipe service casegate-..."):
        return 1
    service = m.group(1)
    master = "%s %s\n%s" % (service, m.group(2), "".join("  " + l[6:] + "\n" for l in m.group(3).splitlines()))
    pipe_args = " ".join(l[6:] for l in m.group(3).splitlines())
    # The pipe runs as the daemon's user (not nobody), reads the packaged config, names its source,
    # passes the envelope sender, and needs no secret (casegate.env is root's, 0600).
    need(re.search(r"(^| )user=casegate( |$)", pipe_args) is not None,
         "master.cf %s: got %r, want user=casegate" % (service, pipe_args))
    need(re.search(r"argv=/usr/bin/casegate mail -c /etc/casegate/casegate.yaml --source \S+ --sender \$\{sender\}$",
                   pipe_args) is not None,
         "master.cf %s: got %r, want argv=/usr/bin/casegate mail -c /etc/casegate/casegate.yaml --source NAME "
         "--sender ${sender}" % (service, pipe_args))
    need("--env-file" not in pipe_args, "master.cf %s: got %r, want no --env-file (root's 0600 file)" %
         (service, pipe_args))
    pipe_entry = re.search(r"^#   (\S+@\S+)\s+(%s:)$" % re.escape(service), text, re.M)
    need(pipe_entry is not None, "postfix-transport.example: got no commented transport entry naming %s:" % service)
    need(len(entries) >= 1 and all(len(e) == 2 for e in entries), "transport entries: got %r" % entries)
    for dom, nexthop in entries:
        need(re.match(r"^lmtp:(inet:[\w.\-\[\]:]+:\d+|unix:/\S+)$", nexthop) is not None,
             "transport %s: got next hop %r, want lmtp:inet:HOST:PORT or lmtp:unix:PATH" % (dom, nexthop))
    postmap = shutil.which("postmap") or ("/usr/sbin/postmap" if os.path.exists("/usr/sbin/postmap") else None)
    if not postmap:
        skip_note("postmap", "postmap missing: transport checked by parsing only")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        t = os.path.join(tmp, "transport")
        shutil.copy(path, t)
        # A private config directory: no Postfix installation needed beyond its tools.
        with open(os.path.join(tmp, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        r = subprocess.run([postmap, "-c", tmp, t], capture_output=True, text=True, timeout=30)
        if not need(r.returncode == 0, "postmap: got exit %d: %s" % (r.returncode, r.stderr.strip())):
            return 1
        for dom, nexthop in entries:
            r = subprocess.run([postmap, "-c", tmp, "-q", dom, "hash:" + t], capture_output=True, text=True, timeout=30)
            need(r.stdout.strip() == nexthop, "postmap -q %s: got %r, want %r" % (dom, r.stdout.strip(), nexthop))
        # The pipe service as Postfix reads master.cf: one service, the pipe command whole.
        postconf = os.path.join(os.path.dirname(postmap), "postconf")
        if not os.path.exists(postconf):
            skip_note("postconf", "postconf missing: master.cf pipe service checked by parsing only")
            return 0
        with open(os.path.join(tmp, "master.cf"), "w") as f:
            f.write(master)
        r = subprocess.run([postconf, "-c", tmp, "-F", service + "/unix/command"], capture_output=True, text=True,
                           timeout=30)
        want = "%s/unix/command = pipe %s" % (service, pipe_args)
        need(r.returncode == 0 and r.stdout.strip() == want,
             "postconf -F %s/unix/command: got exit %d %r %r, want %r" % (service, r.returncode, r.stdout.strip(),
                                                                         r.stderr.strip(), want))
    return 0


# ---------------------------------------------------------------- Prometheus rules

def parse_exposition(text):
    types, samples = {}, {}
    for line in text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ", line)
        if m:
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
            samples.setdefault(m.group(1), set()).update(labels)
    return types, samples


def family_of(name, types):
    if name in types:
        return name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[: -len(suf)]) == "histogram":
            return name[: -len(suf)]
    return None


def scrape_casegate():
    """/metrics of a real casegate that took one alert (delivered to casegate-sim) and one bad credential."""
    tmp = tempfile.mkdtemp(prefix="cg-metrics-")
    procs = Procs(tmp)
    try:
        gw_port, _ = start_casegate(procs, DEMO_SOURCE)
        base = "http://127.0.0.1:%d" % gw_port
        auth = {"Authorization": "Bearer nginx-test-token", "Content-Type": "application/json"}
        http("POST", base + "/hooks/demo", b'{"title":"a","status":"firing","id":"a"}', auth)
        http("POST", base + "/hooks/demo", b'{"title":"a","status":"firing","id":"a"}', {"Authorization": "Bearer no"})

        def delivered():
            # Not "casegate_deliveries_total{": its 0 samples are there from the start.
            _, t, _ = http("GET", base + "/metrics")
            return re.search(r'^casegate_deliveries_total\{[^}]*outcome="delivered"\} [1-9]', t, re.M) is not None \
                and "casegate_outbound_latency_seconds_bucket{" in t
        poll(delivered, 15)
        _, text, _ = http("GET", base + "/metrics")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return text


def check_rules():
    path = os.path.join(DEPLOY, "prometheus-rules.yml")
    docs = load_yaml_docs(path)
    if not need(len(docs) == 1 and isinstance(docs[0].get("groups"), list), "rules: want one document with groups"):
        return 1
    rules = [r for g in docs[0]["groups"] for r in g.get("rules", [])]
    need(len(rules) >= 8, "rules: got %d, want >= 8" % len(rules))
    names = set()
    for r in rules:
        a = r.get("alert", "")
        need(re.match(r"^Casegate[A-Z][A-Za-z]+$", a) is not None, "alert name %r" % a)
        need(a not in names, "duplicate alert %s" % a)
        names.add(a)
        need(isinstance(r.get("expr"), str) and r["expr"].strip(), "%s: no expr" % a)
        need(r.get("expr", "").count("(") == r.get("expr", "").count(")"), "%s: unbalanced parentheses" % a)
        need(r.get("labels", {}).get("severity") in ("critical", "warning", "info"), "%s: severity %r" % (a, r.get("labels")))
        need(r.get("annotations", {}).get("summary"), "%s: no summary annotation" % a)
        if "for" in r:
            need(re.match(r"^\d+[smhd]$", str(r["for"])) is not None, "%s: for %r" % (a, r["for"]))
    promtool = shutil.which("promtool")
    if promtool:
        res = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True, timeout=60)
        need(res.returncode == 0, "promtool check rules: %s" % (res.stdout + res.stderr))
        if res.returncode == 0:
            print("promtool check rules: ok")
    else:
        skip_note("promtool", "promtool missing (package prometheus): rules not checked by Prometheus itself")

    # Every casegate_* name (and label) an expression uses exists in a running casegate's /metrics.
    text = scrape_casegate()
    check_exprs([(r.get("alert"), r.get("expr", "")) for r in rules], text, strict=True)
    return 0


# Labels Prometheus adds to every scraped series; casegate's /metrics does not print them.
TARGET_LABELS = ("instance", "job")


def check_exprs(exprs, text, strict):
    """Every casegate_* name each (what, expr) uses is a family on /metrics (text); each label it
    selects or groups by is on that family's samples. strict=False: a family with no sample at
    all (label values only traffic reveals, e.g. rate-limit buckets) has its labels unchecked."""
    types, samples = parse_exposition(text)
    for what, expr in exprs:
        used = re.findall(r"\b(casegate_[a-z0-9_]+)", expr)
        for name in set(used):
            fam = family_of(name, types)
            if not need(fam is not None, "%s: metric %s is not exported by casegate" % (what, name)):
                continue
            if not strict and not samples.get(name):
                continue
            for sel in re.findall(re.escape(name) + r"\{([^}]*)\}", expr):
                for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", sel):
                    if label in TARGET_LABELS:
                        continue
                    need(label in samples.get(name, set()),
                         "%s: %s has no label %s (got %s)" % (what, name, label, sorted(samples.get(name, []))))
        for labels in re.findall(r"by \(([^)]*)\)", expr):
            for label in [l.strip() for l in labels.split(",")]:
                if label in TARGET_LABELS + ("le",):
                    continue
                if not strict and not any(samples.get(n) for n in used):
                    continue
                need(any(label in samples.get(n, set()) for n in used),
                     "%s: grouping label %s is on none of %s" % (what, label, used))


# ---------------------------------------------------------------- Grafana dashboard

PANEL_TYPES = ("timeseries", "stat", "gauge", "bargauge", "table", "text", "row")
DS_UID = "${datasource}"


def check_dashboard():
    path = os.path.join(DEPLOY, "grafana-dashboard.json")
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        bad("dashboard: %s is not valid JSON: %s" % (path, e))
        return 1
    # Grafana 9.0 writes schemaVersion 36, 10.x up to 39: an import migrates older ones, newer fail.
    need(isinstance(d.get("schemaVersion"), int) and 36 <= d["schemaVersion"] <= 39,
         "dashboard: schemaVersion %r, want 36..39 (Grafana 9/10)" % d.get("schemaVersion"))
    need(isinstance(d.get("title"), str) and d["title"], "dashboard: no title")
    need(isinstance(d.get("uid"), str) and re.match(r"^[A-Za-z0-9_-]{1,40}$", d.get("uid", "")),
         "dashboard: uid %r" % d.get("uid"))
    need(d.get("id") is None, "dashboard: a fixed id %r (an import would overwrite that dashboard)" % d.get("id"))
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    need(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
         "dashboard: no `datasource` variable of type datasource for prometheus (got %r)" % ds)
    exprs = []
    for v in variables.values():
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query":
            need((v.get("datasource") or {}).get("uid") == DS_UID, "variable %s: datasource is not %s" % (v.get("name"), DS_UID))
            exprs.append(("variable " + str(v.get("name")), q or ""))
    panels = list(d.get("panels") or [])
    for p in list(panels):
        panels.extend(p.get("panels") or [])  # panels of a collapsed row
    need(len([p for p in panels if p.get("type") != "row"]) >= 8, "dashboard: want >= 8 panels")
    ids = set()
    for p in panels:
        title = "panel %r" % p.get("title")
        need(p.get("type") in PANEL_TYPES, "%s: type %r" % (title, p.get("type")))
        need(isinstance(p.get("id"), int) and p["id"] not in ids, "%s: id %r missing or repeated" % (title, p.get("id")))
        ids.add(p.get("id"))
        g = p.get("gridPos") or {}
        need(all(isinstance(g.get(k), int) for k in "hwxy") and g.get("x", 0) + g.get("w", 0) <= 24,
             "%s: gridPos %r" % (title, g))
        if p.get("type") in ("row", "text"):
            continue
        need((p.get("datasource") or {}).get("uid") == DS_UID, "%s: datasource is not %s" % (title, DS_UID))
        targets = p.get("targets") or []
        if not need(targets, "%s: no target" % title):
            continue
        refs = set()
        for t in targets:
            expr = t.get("expr")
            need(t.get("refId") and t.get("refId") not in refs, "%s: refId %r missing or repeated" % (title, t.get("refId")))
            refs.add(t.get("refId"))
            need((t.get("datasource") or {}).get("uid", DS_UID) == DS_UID, "%s: target datasource is not %s" % (title, DS_UID))
            if not need(isinstance(expr, str) and "casegate_" in expr, "%s: target %s: no casegate expr" % (title, t.get("refId"))):
                continue
            for o, c in ("()", "{}", "[]"):
                need(expr.count(o) == expr.count(c), "%s: unbalanced %s%s in %s" % (title, o, c, expr))
            exprs.append(("%s/%s" % (title, t.get("refId")), expr))

    # PromQL syntax: Prometheus parses each expression (as a recording rule, Grafana's variables filled in).
    promtool = shutil.which("promtool")
    tmp = tempfile.mkdtemp(prefix="cg-dash-")
    try:
        if promtool:
            import yaml
            rules = []
            for i, (_, e) in enumerate(x for x in exprs if not x[0].startswith("variable ")):
                e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
                rules.append({"record": "casegate:dashboard_%d" % i, "expr": e})
            rpath = os.path.join(tmp, "dashboard-rules.yml")
            with open(rpath, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            res = subprocess.run([promtool, "check", "rules", rpath], capture_output=True, text=True, timeout=60)
            need(res.returncode == 0, "dashboard: promtool does not parse an expression: %s" % (res.stdout + res.stderr))
        else:
            skip_note("promtool", "promtool missing (package prometheus): dashboard PromQL not parsed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # Every metric an expression queries is a family of a running casegate's /metrics.
    check_exprs(exprs, scrape_casegate(), strict=False)
    print("dashboard: %d panels, %d expressions checked" % (len(panels), len(exprs)))
    return 0


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    what = sys.argv[1]
    fn = {"systemd": check_systemd, "nginx": check_nginx, "docker": check_docker, "k8s": check_k8s,
          "postfix": check_postfix, "rules": check_rules, "dashboard": check_dashboard}.get(what)
    if not fn:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import yaml  # noqa: F401
    except ImportError:
        skip_note("python3-yaml", "python3-yaml missing: nothing checked")
        return SKIP
    rc = fn() or 0
    if rc == SKIP:
        return SKIP
    if problems:
        print("%s: %d problem(s)" % (what, len(problems)), file=sys.stderr)
        return 1
    print("%s: ok" % what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
