#!/usr/bin/python3
"""gen_mail_fixtures.py: writes tests/fixtures/email/{icinga213,nagios4}_*.eml by running the real senders.

Icinga 2.13: the stock /etc/icinga2/scripts/mail-{service,host}-notification.sh (Debian's
icinga2-common) run with the arguments conf.d/commands.conf's NotificationCommands pass them.
Nagios 4.4: the stock notify-{service,host}-by-email command_line of
/etc/nagios4/objects/commands.cfg (nagios4-core), its $MACROS$ replaced here as Nagios would, run
through /bin/sh -c as Nagios runs a command with a pipe in it. Both pipe into the real /usr/bin/mail
(bsd-mailx), whose `set sendmail=` (read from $MAILRC) points at a capture script here: what mail
hands to sendmail is what it would hand to Postfix.

Postfix's own part is modelled, not run: pickup(8) puts a "Received: by HOST (Postfix, from userid
N)" line on top, and cleanup(8) appends the Message-Id, Date and From headers mail does not write
(From is the bare address: the nagios user Debian creates has no full name). Those headers are
fixed per fixture so the output is the same on every run.

The scripts call `hostname` for their "***** Service Monitoring on HOST *****" line: a stub on
PATH answers the monitoring host's name. LANG is C.UTF-8, as a daemon started by systemd has it.

Usage: /usr/bin/python3 tests/mappers/gen_mail_fixtures.py [--out DIR]
(default DIR: tests/fixtures/email). Exit 0, or 1 naming what is missing or what failed.
test_cli_mail_senders runs it into a scratch folder and compares with the checked-in files.
"""
import datetime
import email.utils
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "fixtures", "email")
ICINGA_SCRIPTS = "/etc/icinga2/scripts"
NAGIOS_COMMANDS = "/etc/nagios4/objects/commands.cfg"
MAIL = "/usr/bin/mail"
TO = "casegate@alerts.example.com"

# ---- Icinga 2.13 ----
ICINGA_HOST = "icinga-master"  # what `hostname` says on the monitoring server
ICINGA_FQDN = "icinga-master.example.com"
# host.name / host.display_name differ, and the display name holds " on ": the subject cannot be
# split, the body's Host: line names the host.
DB = {"-l": "db-1.prod.example", "-n": "db-1 on rack-4", "-4": "10.0.20.11"}
DISK = {"-e": "disk-var", "-u": "Disk /var"}
EDGE = {"-l": "edge-3", "-n": "edge-3", "-4": "192.0.2.33"}

ICINGA = [
    # name, script, arguments (besides -r), Postfix queue id, Date
    ("icinga213_service_problem_warning", "service",
     dict(DB, **DISK, **{"-t": "PROBLEM", "-s": "WARNING", "-d": "2024-05-14 10:00:03 +0200",
                         "-o": "DISK WARNING - free space: /var 1843 MiB (9.02% inode=96%);"}),
     "4TfQ2C1A7Bz9xK1", "Tue, 14 May 2024 10:00:03 +0200 (CEST)"),
    ("icinga213_service_problem_critical", "service",
     dict(DB, **DISK, **{"-t": "PROBLEM", "-s": "CRITICAL", "-d": "2024-05-14 10:20:03 +0200",
                         "-o": "DISK CRITICAL - free space: /var 412 MiB (2.01% inode=96%);"}),
     "4TfQTR3bB2z9xK4", "Tue, 14 May 2024 10:20:03 +0200 (CEST)"),
    ("icinga213_service_ack", "service",
     dict(DB, **DISK, **{"-t": "ACKNOWLEDGEMENT", "-s": "CRITICAL", "-d": "2024-05-14 10:24:41 +0200",
                         "-o": "DISK CRITICAL - free space: /var 398 MiB (1.95% inode=96%);",
                         "-b": "ana", "-c": "Rotating the postgres logs, see OPS-1234"}),
     "4TfQZ91Xk4z9xK7", "Tue, 14 May 2024 10:24:41 +0200 (CEST)"),
    ("icinga213_service_recovery", "service",
     dict(DB, **DISK, **{"-t": "RECOVERY", "-s": "OK", "-d": "2024-05-14 10:41:03 +0200",
                         "-o": "DISK OK - free space: /var 9120 MiB (44.60% inode=97%);"}),
     "4TfQxl0Wc7z9xKB", "Tue, 14 May 2024 10:41:03 +0200 (CEST)"),
    ("icinga213_host_problem", "host",
     dict(EDGE, **{"-t": "PROBLEM", "-s": "DOWN", "-d": "2024-05-14 11:02:17 +0200",
                   "-o": "CRITICAL - Host Unreachable (192.0.2.33)"}),
     "4TfRQ55vGfz9xKF", "Tue, 14 May 2024 11:02:17 +0200 (CEST)"),
    ("icinga213_host_recovery", "host",
     dict(EDGE, **{"-t": "RECOVERY", "-s": "UP", "-d": "2024-05-14 11:09:52 +0200",
                   "-o": "PING OK - Packet loss = 0%, RTA = 0.74 ms"}),
     "4TfRZs2Hqmz9xKJ", "Tue, 14 May 2024 11:09:52 +0200 (CEST)"),
]

# ---- Nagios 4.4 ----
NAGIOS_FQDN = "mon.example.com"
# $HOSTNAME$ and $HOSTALIAS$ differ: the stock service command writes the alias, the host command
# the name (README, E-mail intake).
WEB = {"HOSTNAME": "web1", "HOSTALIAS": "web1.example.com", "HOSTADDRESS": "10.0.0.5", "SERVICEDESC": "HTTP",
       "CONTACTEMAIL": TO}

NAGIOS = [
    # name, command, macros, Postfix queue id, Date; "hostname" variants run the service command
    # with $HOSTALIAS$ changed to $HOSTNAME$, the README's one-word change.
    ("nagios4_service_problem_warning", "notify-service-by-email",
     dict(WEB, NOTIFICATIONTYPE="PROBLEM", SERVICESTATE="WARNING", LONGDATETIME="Tue May 14 10:00:00 CEST 2024",
          SERVICEOUTPUT="HTTP WARNING: HTTP/1.1 200 OK - 1290 bytes in 3.102 second response time"),
     "4TfQ2B6xh1z8wM1", "Tue, 14 May 2024 10:00:00 +0200 (CEST)"),
    ("nagios4_service_problem_critical", "notify-service-by-email",
     dict(WEB, NOTIFICATIONTYPE="PROBLEM", SERVICESTATE="CRITICAL", LONGDATETIME="Tue May 14 10:15:00 CEST 2024",
          SERVICEOUTPUT="CRITICAL - Socket timeout after 10 seconds"),
     "4TfQNC0rQ2z8wM4", "Tue, 14 May 2024 10:15:00 +0200 (CEST)"),
    ("nagios4_service_ack", "notify-service-by-email",
     dict(WEB, NOTIFICATIONTYPE="ACKNOWLEDGEMENT", SERVICESTATE="CRITICAL",
          LONGDATETIME="Tue May 14 10:17:26 CEST 2024", SERVICEOUTPUT="CRITICAL - Socket timeout after 10 seconds"),
     "4TfQR12pLmz8wM7", "Tue, 14 May 2024 10:17:26 +0200 (CEST)"),
    ("nagios4_service_recovery", "notify-service-by-email",
     dict(WEB, NOTIFICATIONTYPE="RECOVERY", SERVICESTATE="OK", LONGDATETIME="Tue May 14 10:32:00 CEST 2024",
          SERVICEOUTPUT="HTTP OK: HTTP/1.1 200 OK - 1290 bytes in 0.004 second response time"),
     "4TfQmK5s9Tz8wMB", "Tue, 14 May 2024 10:32:00 +0200 (CEST)"),
    ("nagios4_host_problem", "notify-host-by-email",
     dict(WEB, NOTIFICATIONTYPE="PROBLEM", HOSTSTATE="DOWN", LONGDATETIME="Tue May 14 11:00:00 CEST 2024",
          HOSTOUTPUT="CRITICAL - Host Unreachable (10.0.0.5)"),
     "4TfRN40gWcz8wMF", "Tue, 14 May 2024 11:00:00 +0200 (CEST)"),
    ("nagios4_host_recovery", "notify-host-by-email",
     dict(WEB, NOTIFICATIONTYPE="RECOVERY", HOSTSTATE="UP", LONGDATETIME="Tue May 14 11:06:00 CEST 2024",
          HOSTOUTPUT="PING OK - Packet loss = 0%, RTA = 0.52 ms"),
     "4TfRVq1cJ8z8wMJ", "Tue, 14 May 2024 11:06:00 +0200 (CEST)"),
    ("nagios4_hostname_service_problem_critical", "notify-service-by-email",
     dict(WEB, NOTIFICATIONTYPE="PROBLEM", SERVICESTATE="CRITICAL", LONGDATETIME="Tue May 14 10:15:00 CEST 2024",
          SERVICEOUTPUT="CRITICAL - Socket timeout after 10 seconds"),
     "4TfQNC0rQ2z8wN4", "Tue, 14 May 2024 10:15:00 +0200 (CEST)"),
]

UID = 104  # the nagios user Icinga 2 and Nagios run as (Debian creates it; the number varies)


def die(msg):
    print("gen_mail_fixtures: " + msg, file=sys.stderr)
    sys.exit(1)


def nagios_command(name):
    """The command_line of `define command { command_name NAME ... }` in the stock commands.cfg."""
    with open(NAGIOS_COMMANDS, encoding="utf-8") as f:
        text = f.read()
    for block in re.findall(r"define\s+command\s*\{(.*?)\n\s*\}", text, re.S):
        m = re.search(r"^\s*command_name\s+(\S+)\s*$", block, re.M)
        c = re.search(r"^\s*command_line\s+(.+?)\s*$", block, re.M)
        if m and c and m.group(1) == name:
            return c.group(1)
    die(f"no command {name} in {NAGIOS_COMMANDS}")


def nagios_expand(line, macros):
    """Nagios' macro substitution: $NAME$ becomes the value (stock nagios.cfg strips
    illegal_macro_output_chars from output macros; the values here have none of them)."""
    def sub(m):
        if m.group(1) not in macros:
            die(f"macro ${m.group(1)}$ has no value here")
        return macros[m.group(1)]
    return re.sub(r"\$([A-Z0-9_]+)\$", sub, line)


def postfix_headers(msg, fqdn, qid, date):
    """msg as Postfix would queue it: Received on top, cleanup's missing headers after mail's own."""
    head, sep, body = msg.partition(b"\n\n")
    if not sep:
        die("mail handed sendmail no header/body separator")
    stamp = qid_stamp(date)
    received = (f"Received: by {fqdn} (Postfix, from userid {UID})\n\tid {qid}; {date}\n").encode()
    added = (f"\nMessage-Id: <{stamp}.{qid}@{fqdn}>\nDate: {date}\nFrom: nagios@{fqdn}").encode()
    return received + head + added + b"\n\n" + body


def qid_stamp(date):
    """cleanup's Message-Id starts with the UTC time as YYYYMMDDhhmmss."""
    dt = email.utils.parsedate_to_datetime(date.split(" (")[0])
    return dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


def run_capture(tmp, argv):
    cap = os.path.join(tmp, "captured")
    if os.path.exists(cap):
        os.unlink(cap)
    env = {"PATH": os.path.join(tmp, "bin") + ":/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8",
           "MAILRC": os.path.join(tmp, "mailrc"), "CG_CAPTURE": cap}
    r = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, timeout=30)
    if r.returncode != 0 or not os.path.exists(cap):
        die(f"{argv[0]} {' '.join(argv[1:3])} ...: exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}"
            + ("" if os.path.exists(cap) else " (mail called no sendmail)"))
    with open(os.path.join(tmp, "sendmail-args"), encoding="utf-8") as f:
        args = f.read().strip()
    if args != "-i -t":
        die(f"mail called sendmail with '{args}', want '-i -t'")
    with open(cap, "rb") as f:
        return f.read()


def main():
    out = DEFAULT_OUT
    argv = sys.argv[1:]
    if argv[:1] == ["--out"] and len(argv) == 2:
        out = argv[1]
    elif argv:
        die("usage: gen_mail_fixtures.py [--out DIR]")
    for path in (ICINGA_SCRIPTS + "/mail-service-notification.sh", ICINGA_SCRIPTS + "/mail-host-notification.sh",
                 NAGIOS_COMMANDS, MAIL):
        if not os.path.exists(path):
            die(f"{path} is missing (deploy/install-deps.sh test installs icinga2-common, nagios4-core, bsd-mailx)")
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="cg-mailfx-")
    try:
        os.mkdir(os.path.join(tmp, "bin"))
        with open(os.path.join(tmp, "bin", "hostname"), "w", encoding="utf-8") as f:
            f.write(f"#!/bin/sh\necho {ICINGA_HOST}\n")
        with open(os.path.join(tmp, "bin", "sendmail"), "w", encoding="utf-8") as f:
            f.write(f'#!/bin/sh\necho "$*" > {tmp}/sendmail-args\nexec cat > "$CG_CAPTURE"\n')
        for n in ("hostname", "sendmail"):
            os.chmod(os.path.join(tmp, "bin", n), 0o755)
        with open(os.path.join(tmp, "mailrc"), "w", encoding="utf-8") as f:
            f.write(f"set sendmail={tmp}/bin/sendmail\n")
        written = []
        for name, kind, args, qid, date in ICINGA:
            argv = [f"{ICINGA_SCRIPTS}/mail-{kind}-notification.sh"]
            for k, v in args.items():
                argv += [k, v]
            argv += ["-r", TO]
            msg = postfix_headers(run_capture(tmp, argv), ICINGA_FQDN, qid, date)
            written.append((name, msg))
        for name, cmd, macros, qid, date in NAGIOS:
            line = nagios_command(cmd)
            if "_hostname_" in name:
                if "$HOSTALIAS$" not in line:
                    die(f"{cmd} has no $HOSTALIAS$ to change")
                line = line.replace("$HOSTALIAS$", "$HOSTNAME$")
            msg = postfix_headers(run_capture(tmp, ["/bin/sh", "-c", nagios_expand(line, macros)]), NAGIOS_FQDN,
                                  qid, date)
            written.append((name, msg))
        for name, msg in written:
            with open(os.path.join(out, name + ".eml"), "wb") as f:
                f.write(msg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
