# systemd files, checked offline (PID 1 on the test machines is not systemd):
# systemd-analyze verify (syntax, commands, man page), the exposure figure of
# systemd-analyze security (must stay "OK", <= 4.9), and the sysusers and
# tmpfiles entries applied to a scratch root.
. "$SRC_DIR/tests/integration/lib.sh"
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (apt-get install systemd)"
U="$SRC_DIR/systemd/citygate.service"

# The unit names /usr/bin/citygate; verify checks the command exists, so point
# it at the binary under test.
mkdir -p "$T/units"
sed "s#/usr/bin/citygate#$CITYGATE#g" "$U" >"$T/units/citygate.service"
MANPATH="$SRC_DIR/docs/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$T/units/citygate.service" \
    >"$T/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.log")"
[ ! -s "$T/verify.log" ] || fail "systemd-analyze verify complained: $(cat "$T/verify.log")"
pass "systemd-analyze verify: clean"

for want in '^Type=notify$' '^NotifyAccess=main$' '^WatchdogSec=' '^User=citygate$' '^SupplementaryGroups=dialout$' \
    '^StateDirectory=citygate$' '^ConfigurationDirectory=citygate$' '^ProtectSystem=strict$' '^NoNewPrivileges=yes$' \
    '^PrivateTmp=yes$' '^CapabilityBoundingSet=$' '^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$' \
    '^SystemCallFilter=@system-service$' '^ExecReload=/bin/kill -HUP \$MAINPID$' '^LimitNOFILE=65536$'; do
    grep -Eq "$want" "$U" || fail "unit lacks $want"
done
pass "unit has the notify, watchdog, user, directory and hardening settings"

systemd-analyze security --offline=true --no-pager "$T/units/citygate.service" >"$T/security.log" 2>&1 ||
    fail "systemd-analyze security: $(tail -5 "$T/security.log")"
line=$(grep 'Overall exposure level' "$T/security.log") || fail "no exposure figure: $(tail -3 "$T/security.log")"
figure=$(echo "$line" | sed -E 's/.*: ([0-9]+\.[0-9]+) ([A-Z]+).*/\1 \2/')
echo "$figure" | grep -Eq '^[0-9]+\.[0-9]+ [A-Z]+$' || fail "cannot parse: $line"
awk -v f="${figure% *}" 'BEGIN { exit !(f <= 4.9) }' || fail "exposure $figure is above 4.9 (OK)"
pass "systemd-analyze security exposure: $figure"

# sysusers + tmpfiles into a scratch root: the user exists, is in dialout, and
# the directories get the owners and modes the package promises.
R="$T/root"
mkdir -p "$R/etc" "$R/var/lib"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$R/etc/passwd"
printf 'root:x:0:\ndialout:x:20:\n' >"$R/etc/group"
systemd-sysusers --root="$R" "$SRC_DIR/systemd/citygate.sysusers" >"$T/sysusers.log" 2>&1 ||
    fail "systemd-sysusers: $(cat "$T/sysusers.log")"
grep -q '^citygate:x:[0-9]*:[0-9]*:citygate sensor-telemetry gateway:/var/lib/citygate:' "$R/etc/passwd" ||
    fail "user not created: $(cat "$R/etc/passwd")"
grep -Eq '^dialout:x:20:(.*,)?citygate(,|$)' "$R/etc/group" || fail "not in dialout: $(cat "$R/etc/group")"
uid=$(awk -F: '$1 == "citygate" {print $3}' "$R/etc/passwd")
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "not a system uid: $uid"
systemd-tmpfiles --root="$R" --create "$SRC_DIR/systemd/citygate.tmpfiles" >"$T/tmpfiles.log" 2>&1 ||
    fail "systemd-tmpfiles: $(cat "$T/tmpfiles.log")"
[ "$(stat -c '%u %a' "$R/var/lib/citygate")" = "$uid 750" ] || fail "state dir: $(stat -c '%u %a' "$R/var/lib/citygate")"
[ "$(stat -c '%u %a' "$R/etc/citygate")" = "0 750" ] || fail "config dir: $(stat -c '%u %a' "$R/etc/citygate")"
pass "sysusers: system user citygate (uid $uid) in dialout; tmpfiles: directories 0750"
