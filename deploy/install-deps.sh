#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages casegate needs to build, run and test.
# Usage: deploy/install-deps.sh [build|test|skip-tools]   (default build). Idempotent; apt only when something
# is missing. `skip-tools` prints the table of tools tests must not skip for (one "tool package" a line).
set -euo pipefail

what=${1:-build}
build_pkgs=(cmake make gcc pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev libssl-dev
	libsqlite3-dev libpq-dev libyaml-dev libgmime-3.0-dev node-llhttp ca-certificates)
test_pkgs=(libcmocka-dev python3 python3-jsonschema python3-yaml prometheus-alertmanager swaks
	nginx-light postfix postgresql wrk clang libclang-rt-dev valgrind openssl curl prometheus
	dpkg dpkg-dev binutils libc-bin systemd shellcheck groff-base nagios4-core icinga2-common monit
	bsd-mailx)
# The tools tests skip without (the `tool=` of their CASEGATE-SKIP line, see tests/harness/harness.h),
# each with the package above that brings it. deploy/dev.sh reads this table: under CI=true a test
# skipped for one of these tools fails the run, since this script was supposed to install it.
# (prometheus is here for promtool: `check rules` on deploy/prometheus-rules.yml; dpkg-dev for
# dpkg-shlibdeps, which `cpack -G DEB` runs for the .deb's Depends; systemd for systemd-analyze;
# cmake for cpack, dpkg for dpkg-deb and `dpkg -S`, binutils for readelf, libc-bin for ldd: what
# tests/deploy/check_package.py needs, and it checks this table names each. nagios4-core, monit and
# icinga2-common's stock mail-*-notification.sh are the real senders the e-mail tests run;
# bsd-mailx is the /usr/bin/mail their stock commands pipe into.)
skip_tools=(	"alertmanager prometheus-alertmanager"
	"clang clang"
	"cpack cmake"
	"dpkg dpkg"
	"dpkg-deb dpkg"
	"dpkg-shlibdeps dpkg-dev"
	"groff groff-base"
	"icinga2-scripts icinga2-common"
	"ldd libc-bin"
	"mail bsd-mailx"
	"monit monit"
	"nagios4 nagios4-core"
	"nginx nginx-light"
	"openssl openssl"
	"postconf postfix"
	"postfix postfix"
	"postgresql postgresql"
	"postmap postfix"
	"prometheus prometheus"
	"promtool prometheus"
	"python3 python3"
	"python3-jsonschema python3-jsonschema"
	"python3-yaml python3-yaml"
	"readelf binutils"
	"shellcheck shellcheck"
	"swaks swaks"
	"systemd-analyze systemd"
	"valgrind valgrind"
)
if [ "$what" = skip-tools ]; then
	printf '%s\n' "${skip_tools[@]}"
	exit 0
fi

pkgs=("${build_pkgs[@]}")
if [ "$what" = test ]; then
	pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks questions on install; answer them so the install never blocks.
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
	echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts packaged services on install; casegate's tests start their own instances.
for svc in nginx postfix postgresql prometheus-alertmanager prometheus nagios4 monit; do
	if printf '%s\n' "${missing[@]}" | grep -q "^$svc"; then
		$sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
	fi
done
