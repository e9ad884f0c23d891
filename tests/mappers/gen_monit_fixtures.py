#!/usr/bin/python3
"""gen_monit_fixtures.py: runs the real monit (Debian `monit`, 5.33) and keeps the mail it sends as
tests/fixtures/email/monit_*.eml: the start ("Monit instance changed"), a file check failing
("Does not exist") and recovering ("Exists"), a port check failing ("Connection failed") and
recovering ("Connection succeeded"), `if exist` failing ("Does exist") and recovering ("Exists
not"), `if changed checksum` ("Checksum changed": monit sends no "not changed" after it), and the
stop.

monit runs in the foreground (-I) with a private control file, `set daemon 1` and its default
mail-format; a small SMTP server on 127.0.0.1 receives what it sends. The only edit to a captured
message is the name of this machine, which becomes web-1.example.com (monit writes it into From,
Message-ID, the body's Host: line and the descriptions), so the fixtures do not depend on where
they were made. Run from anywhere: /usr/bin/python3 tests/mappers/gen_monit_fixtures.py
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "email")
MONIT = "/usr/bin/monit"
HOST = "web-1.example.com"


class Capture:
    """A minimal SMTP server: accepts every message, keeps its DATA (dot-unstuffed)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.cond = threading.Condition()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 capture ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                break
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                conn.sendall(b"250 capture\r\n")
            elif cmd == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = []
                while True:
                    l = f.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data.append(l[1:] if l.startswith(b"..") else l)
                with self.cond:
                    self.messages.append(b"".join(data))
                    self.cond.notify_all()
                conn.sendall(b"250 queued\r\n")
            elif cmd == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        conn.close()

    def wait_for(self, needle, deadline_s=30):
        """The first message whose Subject line contains needle, waiting up to deadline_s."""
        end = time.monotonic() + deadline_s
        with self.cond:
            while True:
                for m in self.messages:
                    subj = [l for l in m.split(b"\n") if l.lower().startswith(b"subject:")]
                    if subj and needle.encode() in subj[0]:
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    sys.exit("monit sent no mail with subject '%s' in %ds; got %d message(s)" %
                             (needle, deadline_s, len(self.messages)))
                self.cond.wait(left)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def save(name, raw):
    # The machine's name as a whole word only ("vm" must not change "vmstat").
    me = re.escape(socket.gethostname().encode())
    text = re.sub(rb"(?<![A-Za-z0-9.-])" + me + rb"(?![A-Za-z0-9-])", HOST.encode(), raw)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(text)
    print("wrote", name, "(%s)" % [l for l in text.split(b"\n") if l.startswith(b"Subject:")][0].decode().strip())


def main():
    if not os.access(MONIT, os.X_OK):
        sys.exit("%s missing (apt-get install monit)" % MONIT)
    cap = Capture()
    d = tempfile.mkdtemp(prefix="monit-fix-")
    marker = os.path.join(d, "marker")
    stale = os.path.join(d, "stale.lock")
    conf = os.path.join(d, "app.conf")
    open(stale, "w").close()
    with open(conf, "w") as f:
        f.write("a = 1\n")
    port = free_port()
    rc = os.path.join(d, "monitrc")
    with open(rc, "w") as f:
        f.write("set daemon 1\n"
                "set logfile %s/monit.log\n"
                "set pidfile %s/monit.pid\n"
                "set idfile %s/monit.id\n"
                "set statefile %s/monit.state\n"
                "set mailserver 127.0.0.1 port %d\n"
                "set alert ops@example.com\n"
                "check file marker with path %s\n"
                "check host webapp with address 127.0.0.1\n"
                "  if failed port %d then alert\n"
                "check file stale with path %s\n"
                "  if exist then alert\n"
                "check file appconf with path %s\n"
                "  if changed checksum then alert\n" % (d, d, d, d, cap.port, marker, port, stale, conf))
    os.chmod(rc, 0o600)  # monit refuses a control file others can read
    p = subprocess.Popen([MONIT, "-I", "-c", rc], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        save("monit_instance.eml", cap.wait_for("Monit instance changed"))
        save("monit_file_missing.eml", cap.wait_for("Does not exist marker"))
        save("monit_conn_failed.eml", cap.wait_for("Connection failed webapp"))
        open(marker, "w").close()
        save("monit_file_exists.eml", cap.wait_for("Exists marker"))
        srv = socket.socket()
        srv.bind(("127.0.0.1", port))
        srv.listen(8)
        save("monit_conn_ok.eml", cap.wait_for("Connection succeeded webapp"))
        save("monit_exist.eml", cap.wait_for("Does exist stale"))
        os.unlink(stale)
        save("monit_exist_gone.eml", cap.wait_for("Exists not stale"))
        with open(conf, "w") as f:
            f.write("a = 2\n")
        save("monit_checksum_changed.eml", cap.wait_for("Checksum changed appconf"))
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        changed = [m for m in cap.messages if b"Monit instance changed" in m]
        if len(changed) < 2:
            sys.exit("monit sent no 'Monit instance changed' mail when it stopped")
        save("monit_instance_stop.eml", changed[-1])
        srv.close()
    finally:
        if p.poll() is None:
            p.kill()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
