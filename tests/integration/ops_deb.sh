# The .deb: builds it from a release configuration (cpack -G DEB), installs it
# into this machine with dpkg -i, checks the files, the user, the directories,
# runs the installed binary (--version, --check-config on the example config),
# then removes and purges it and checks that nothing named citygate remains.
# Needs root and dpkg (scripts/test runs as root). PID 1 here is not systemd, so
# the maintainer scripts take their no-systemd paths; see docs/operations.md.
. "$SRC_DIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v dpkg >/dev/null && command -v cpack >/dev/null || { echo "SKIP: needs dpkg and cpack"; exit 77; }
[ -f "$SRC_DIR/config/citygate.example.json" ] || {
    echo "SKIP: config/citygate.example.json does not exist yet (the package installs it)"
    exit 77
}

# An earlier run that died half-way may have left it installed.
if dpkg-query -W -f='${Status}' citygate 2>/dev/null | grep installed >/dev/null; then
    dpkg --purge citygate >/dev/null
fi
getent passwd citygate >/dev/null && fail "a user 'citygate' exists before the test: not ours to remove"

# What exists with our name before (other trees, other tests' temp dirs are excluded).
scan() {
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /work -o -path /root \
        -o -path /var/lib/dpkg -o -path /var/cache -o -path /var/log -o -path '/home' \) -prune -o \
        -name '*citygate*' -print 2>/dev/null | sort
}
scan >"$T/before.txt"

B="$T/pkgbuild"
cmake -S "$SRC_DIR" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCG_BUILD_TESTS=OFF -DCG_SANITIZE=OFF \
    -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc >"$T/cmake.log" 2>&1 || fail "configure"
cmake --build "$B" -j"$(nproc)" >"$T/build.log" 2>&1 || fail "build"
(cd "$B" && cpack -G DEB >"$T/cpack.log" 2>&1) || fail "cpack: $(tail -5 "$T/cpack.log")"
DEB=$(ls "$B"/citygate_*.deb)
pass "built $(basename "$DEB")"

dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./#/#' >"$T/contents.txt"
for f in /usr/bin/citygate /etc/citygate/citygate.json.example /lib/systemd/system/citygate.service \
    /usr/lib/sysusers.d/citygate.conf /usr/lib/tmpfiles.d/citygate.conf /usr/share/man/man8/citygate.8 \
    /usr/share/doc/citygate/operations.md /usr/share/citygate/profiles/airq_rs485.json \
    /usr/share/citygate/citygate.schema.json; do
    grep -qx "$f" "$T/contents.txt" || fail "$f not in the package"
done
if [ -n "${CITYGATE_SIM:-}" ]; then
    grep -qx /usr/bin/citygate-sim "$T/contents.txt" || fail "citygate-sim not in the package"
    grep -qx /usr/share/man/man1/citygate-sim.1 "$T/contents.txt" || fail "citygate-sim.1 not in the package"
fi
if grep -q cg_http_start "$SRC_DIR/gateway/main.c"; then # shlibdeps only sees what the binary links
    dpkg-deb -f "$DEB" Depends | grep libmicrohttpd >/dev/null || fail "Depends lacks libmicrohttpd: $(dpkg-deb -f "$DEB" Depends)"
fi
for f in "$SRC_DIR"/docs/*.md; do
    grep -qx "/usr/share/doc/citygate/$(basename "$f")" "$T/contents.txt" || fail "docs/$(basename "$f") not in the package"
done
for f in changelog.Debian.gz copyright; do
    grep -qx "/usr/share/doc/citygate/$f" "$T/contents.txt" || fail "/usr/share/doc/citygate/$f not in the package"
done

# The description as dpkg shows it: the synopsis, then the long text, each
# line indented by one space (no ';' from a CMake list).
dpkg-deb -I "$DEB" | sed -n '/^ Description:/,/^ [A-Z][A-Za-z-]*:/p' | sed '$d' >"$T/description.txt"
cat >"$T/description.want" <<'D'
 Description: sensor-telemetry gateway: Modbus and MQTT in, InfluxDB out
  citygate polls Modbus devices and subscribes to MQTT topics, normalises the
  readings, buffers them on disk and writes them to InfluxDB-compatible
  databases. It runs as a hardened systemd service with health checks,
  Prometheus metrics and a status page.
D
diff -u "$T/description.want" "$T/description.txt" >&2 || fail "dpkg -I: the description does not render as written"
pass "dpkg -I shows the synopsis and the long description"

dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -x /etc/citygate/citygate.json.example >/dev/null ||
    fail "example config is not a conffile"
pass "package contents, dependencies, conffiles"

# dpkg may be busy (another engineer's apt-get): wait for its lock.
dpkg_retry() {
    local i
    for i in $(seq 60); do
        if "$@" >"$T/dpkg.log" 2>&1; then return 0; fi
        grep -q 'lock' "$T/dpkg.log" || { cat "$T/dpkg.log" >&2; return 1; }
        sleep 1
    done
    return 1
}
dpkg_retry dpkg -i "$DEB" || fail "dpkg -i: $(cat "$T/dpkg.log")"
pass "installed"

[ "$(/usr/bin/citygate --version)" = "citygate $(dpkg-deb -f "$DEB" Version)" ] ||
    fail "--version: $(/usr/bin/citygate --version)"
/usr/bin/citygate --check-config /etc/citygate/citygate.json.example >"$T/check.log" 2>&1 ||
    fail "--check-config on the example: $(cat "$T/check.log")"
man -l /usr/share/man/man8/citygate.8 >/dev/null 2>&1 || fail "man page does not render"
pass "installed binary: --version, --check-config on the example config"

# apt shows the same description; the changelog and copyright are there; every
# relative link of every installed page resolves in the installed docs.
apt show citygate 2>/dev/null | sed -n '/^Description:/,$p' | sed '/^$/,$d' >"$T/apt.txt"
sed 's/^ //' "$T/description.want" | diff -u - "$T/apt.txt" >&2 || fail "apt show: the description differs"
zcat /usr/share/doc/citygate/changelog.Debian.gz | head -n 1 | grep -qx "citygate ($(dpkg-deb -f "$DEB" Version)) unstable; urgency=medium" ||
    fail "changelog.Debian.gz: $(zcat /usr/share/doc/citygate/changelog.Debian.gz | head -n 1)"
grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/$' /usr/share/doc/citygate/copyright ||
    fail "copyright is not machine-readable (DEP-5)"
for page in /usr/share/doc/citygate/*.md; do
    for target in $(grep -o '](\([^)#]*\)' "$page" | sed 's/^](//' | grep -v '^[a-z]*:' | sort -u); do
        [ -e "/usr/share/doc/citygate/$target" ] || fail "$(basename "$page") links to $target, which is not installed"
    done
done
grep -o '/usr/share/doc/citygate/[A-Za-z0-9_.-]*' /usr/share/man/man8/citygate.8 | sort -u | while read -r f; do
    [ -e "$f" ] || fail "the man page names $f, which is not installed"
done
pass "apt show description, changelog.Debian.gz, copyright; every link of the installed docs resolves"

getent passwd citygate >/dev/null || fail "user citygate not created"
id -nG citygate | grep -w dialout >/dev/null || fail "citygate is not in dialout: $(id -nG citygate)"
[ "$(getent passwd citygate | cut -d: -f7)" != /bin/bash ] || fail "citygate has a login shell"
[ "$(stat -c '%U:%G %a' /var/lib/citygate)" = "citygate:citygate 750" ] ||
    fail "/var/lib/citygate: $(stat -c '%U:%G %a' /var/lib/citygate)"
[ "$(stat -c '%U:%G %a' /etc/citygate)" = "root:citygate 750" ] || fail "/etc/citygate: $(stat -c '%U:%G %a' /etc/citygate)"
pass "user citygate (in dialout), /var/lib/citygate and /etc/citygate owned and private"

# What a service start would do, as the service user: the config is readable
# by it, the state dir writable.
cp /etc/citygate/citygate.json.example /etc/citygate/citygate.json
chown root:citygate /etc/citygate/citygate.json && chmod 0640 /etc/citygate/citygate.json
runuser -u citygate -- /usr/bin/citygate --check-config /etc/citygate/citygate.json >"$T/check2.log" 2>&1 ||
    fail "as user citygate: $(cat "$T/check2.log")"
runuser -u citygate -- touch /var/lib/citygate/probe || fail "state dir not writable by citygate"
pass "the service user reads the config and writes its state dir"

# The installed daemon runs as the service user and answers /healthz. (PID 1 is
# not systemd on the test machines, so the unit itself is checked offline by
# ops_systemd; here the binary runs as the unit would run it.)
hp=$(free_port)
cat >"$T/run.json" <<J
{"gateway":{"id":"deb-test","state_dir":"/var/lib/citygate"},
 "http":{"listen":"127.0.0.1:$hp"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:$(free_port)","database":"city"}],
 "sources":[]}
J
chmod 0644 "$T/run.json"; chmod 0755 "$T"
# setpriv execs the daemon itself (runuser would stay in between and answer the signal)
setpriv --reuid=citygate --regid=citygate --init-groups /usr/bin/citygate --config "$T/run.json" >"$T/daemon.log" 2>&1 &
dpid=$!
wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$hp/metrics" || fail "installed daemon: no /metrics ($(cat "$T/daemon.log"))"
hz=$(curl -s "http://127.0.0.1:$hp/healthz")
case "$hz" in ok* | degraded*) ;; *) fail "installed daemon: /healthz said '$hz'" ;; esac
kill -TERM "$dpid"
set +e
wait "$dpid"
drc=$?
set -e
[ "$drc" -eq 0 ] || fail "installed daemon: exit $drc after SIGTERM ($(cat "$T/daemon.log"))"
[ -d /var/lib/citygate/buffer ] || fail "installed daemon: no disk buffer in /var/lib/citygate"
pass "installed daemon ran as user citygate, answered /healthz ('${hz%%$'\n'*}'), stopped cleanly"

# Reinstall over itself (an upgrade path: maintainer scripts are idempotent).
dpkg_retry dpkg -i "$DEB" || fail "reinstall: $(cat "$T/dpkg.log")"
[ -f /etc/citygate/citygate.json ] || fail "upgrade lost the config"
pass "reinstall keeps the config"

# What the docs' recipes add: secret files, a site's profiles, a unit override.
printf 'secret\n' >/etc/citygate/http.token
printf 'secret\n' >/etc/citygate/influx.pw
mkdir -p /etc/citygate/profiles
cp /usr/share/citygate/profiles/airq_rs485.json /etc/citygate/profiles/site_aq.json
chown -R root:citygate /etc/citygate && chmod 0640 /etc/citygate/http.token /etc/citygate/influx.pw
mkdir -p /etc/systemd/system/citygate.service.d
printf '[Service]\nEnvironment=X=1\n' >/etc/systemd/system/citygate.service.d/override.conf

dpkg_retry dpkg --remove citygate || fail "dpkg --remove: $(cat "$T/dpkg.log")"
[ ! -e /usr/bin/citygate ] || fail "binary left after remove"
[ -f /etc/citygate/citygate.json.example ] || fail "remove (not purge) must keep the configuration"
dpkg_retry dpkg --purge citygate || fail "dpkg --purge: $(cat "$T/dpkg.log")"
pass "removed and purged"

scan >"$T/after.txt"
stray=$(comm -13 "$T/before.txt" "$T/after.txt")
[ -z "$stray" ] || fail "stray files after purge: $stray"
while read -r f; do
    [ -d "$f" ] && continue
    [ ! -e "$f" ] || fail "$f remains after purge"
done <"$T/contents.txt"
! getent passwd citygate >/dev/null || fail "user citygate remains after purge"
! getent group citygate >/dev/null || fail "group citygate remains after purge"
[ ! -e /etc/citygate ] || fail "/etc/citygate remains after purge: $(find /etc/citygate)"
[ ! -e /etc/systemd/system/citygate.service.d ] || fail "the unit override remains after purge"
pass "nothing named citygate remains; user and group gone"
