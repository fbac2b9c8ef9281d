#!/bin/bash
# Tests the Debian package target/chronos_<version>_all.deb without installing it: its metadata
# and file list, lintian, the systemd unit, the shell scripts, then a node run from the unpacked
# package with the packaged chronos.yml (ports and paths moved to a temporary directory), driven
# through chronos-ctl and the init script.
#
# Usage: deb/test-package.sh [path/to/chronos_X_all.deb]
#   Builds the package (mvn -B -q package -DskipTests) only when none exists. Needs Java 17,
#   curl and dpkg; installs lintian with apt-get when it is missing (as root).
#   The last line is "package-test: N passed, M failed"; the exit status is non-zero on failure.
#
# Environment:
#   CHRONOS_TEST_REQUIRE_RESYNC=0  accept a clear failure message from "chronos-ctl resync"
#       (POST /tasks/resync), for a node without the resync task. Default 1: it must succeed.
#   CHRONOS_TEST_KEEP=1            keep the temporary directory (its path is printed).

set -u
export LC_ALL=C.UTF-8

REQUIRE_RESYNC=${CHRONOS_TEST_REQUIRE_RESYNC:-1}
START_TIMEOUT=60

cd "$(dirname "$0")/.." || exit 1
PROJECT=$(pwd)

PASSED=0
FAILED=0
NODE_PID=
STANDIN_PID=
T=

pass() { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
note() { echo "     # $*"; }
section() { echo; echo "== $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local description=$1
    shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}
# poll TRIES COMMAND...: runs the command every 0.25 s until it succeeds, at most TRIES times.
poll() {
    local tries=$1
    shift
    while [ "$tries" -gt 0 ]; do
        "$@" && return 0
        sleep 0.25
        tries=$((tries - 1))
    done
    return 1
}
# Prints a file's last lines, indented, to explain a failure.
show() { [ -f "$1" ] && tail -n "${2:-20}" "$1" | sed 's/^/     | /'; }

cleanup() {
    if [ -n "$STANDIN_PID" ]; then
        kill "$STANDIN_PID" 2>/dev/null
        wait "$STANDIN_PID" 2>/dev/null
    fi
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill "$NODE_PID" 2>/dev/null
        wait "$NODE_PID" 2>/dev/null
    fi
    if [ -n "$T" ] && [ -f "$T/run/chronos.pid" ]; then
        local pid
        pid=$(cat "$T/run/chronos.pid")
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    fi
    if [ -n "$T" ] && [ -d "$T" ]; then
        if [ "${CHRONOS_TEST_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
    fi
}

finish() {
    cleanup
    trap - EXIT
    echo
    echo "package-test: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

# A fatal failure: later checks cannot run.
abort() { fail "$*"; finish; }

# ---------------------------------------------------------------------------------------------
section "package"

# curl (a dependency of the package, used by chronos-ctl) and lintian may be missing on a fresh
# machine: install them when running as root with apt-get.
missing=
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v lintian >/dev/null 2>&1 || missing="$missing lintian"
command -v logrotate >/dev/null 2>&1 || missing="$missing logrotate"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    note "installing with apt-get:$missing"
    apt_log=$(mktemp)
    # shellcheck disable=SC2086
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; } \
        >"$apt_log" 2>&1; then
        show "$apt_log"
    fi
    rm -f "$apt_log"
fi
for tool in dpkg-deb java curl; do
    command -v "$tool" >/dev/null 2>&1 || abort "$tool is not installed"
done

DEB=${1:-}
if [ -z "$DEB" ]; then
    DEB=$(ls -t target/chronos_*_all.deb 2>/dev/null | head -n 1)
    if [ -z "$DEB" ]; then
        note "no target/chronos_*_all.deb: building it"
        mvn -B -q -Dstyle.color=never package -DskipTests || abort "mvn package failed"
        DEB=$(ls -t target/chronos_*_all.deb 2>/dev/null | head -n 1)
    fi
fi
[ -f "$DEB" ] || abort "no package to test (looked for target/chronos_*_all.deb)"
note "testing $DEB"

T=$(mktemp -d "${TMPDIR:-/tmp}/chronos-package-test.XXXXXX") || abort "mktemp failed"
ROOT=$T/root
mkdir -p "$T/control" "$T/log" "$T/etc" "$T/run" "$T/home" "$ROOT"

dpkg-deb -I "$DEB" >"$T/info" 2>&1 || abort "dpkg-deb -I failed: $(cat "$T/info")"
dpkg-deb -f "$DEB" >"$T/fields" || abort "dpkg-deb -f failed"
dpkg-deb -e "$DEB" "$T/control" || abort "dpkg-deb -e failed"
dpkg-deb -c "$DEB" >"$T/contents" || abort "dpkg-deb -c failed"
dpkg-deb -x "$DEB" "$ROOT" || abort "dpkg-deb -x failed"
pass "dpkg-deb reads the package (-I, -e, -c, -x)"

field() { sed -n "s/^$1: //p" "$T/fields"; }
VERSION=$(field Version)
check "Package is chronos" [ "$(field Package)" = chronos ]
check "Architecture is all" [ "$(field Architecture)" = all ]
check "Section is net, Priority optional" [ "$(field Section)/$(field Priority)" = net/optional ]
check "Depends on Java 17, adduser and curl" \
    [ "$(field Depends)" = "openjdk-17-jre-headless | java17-runtime-headless, adduser, curl" ]
check "Maintainer has a name and an address" grep -Eq '^Maintainer: .+ <[^@ ]+@[^@ ]+>$' "$T/fields"
check "Description has a synopsis and a long text" \
    bash -c '[ "$(grep -c "^ " "$1")" -ge 3 ] && grep -q "^Description: ." "$1"' _ "$T/fields"
check "Installed-Size is set" grep -Eq '^Installed-Size: [0-9]+$' "$T/fields"
check "file name matches the version ($VERSION)" [ "$(basename "$DEB")" = "chronos_${VERSION}_all.deb" ]

for script in postinst prerm postrm; do
    check "$script is present and executable" [ -x "$T/control/$script" ]
done
for conffile in /etc/chronos/chronos.yml /etc/default/chronos /etc/init.d/chronos /etc/logrotate.d/chronos; do
    check "conffiles lists $conffile" grep -qx "$conffile" "$T/control/conffiles"
done
check "conffiles lists nothing else" [ "$(grep -c . "$T/control/conffiles")" -eq 4 ]
check "md5sums covers every file" \
    [ "$(grep -c . "$T/control/md5sums")" -eq "$(grep -c '^-' "$T/contents")" ]

# mode owner path: every file the package must ship, exactly so.
expect_entry() {
    local mode=$1 path=$2
    if awk -v m="$mode" -v p="./$path" '$1 == m && $2 == "root/root" && $6 == p { found = 1 } END { exit !found }' \
        "$T/contents"; then
        pass "ships /$path ($mode root/root)"
    else
        fail "ships /$path ($mode root/root); found: $(grep -F " ./$path" "$T/contents" || echo nothing)"
    fi
}
expect_entry -rw-r--r-- usr/share/chronos/chronos.jar
check "ships /usr/lib/chronos/chronos, a link to /usr/bin/java" \
    grep -q '^l.* root/root .* \./usr/lib/chronos/chronos -> \.\./\.\./bin/java$' "$T/contents"
# The unpacked link points into the unpacked tree: give it this machine's java there.
mkdir -p "$ROOT/usr/bin"
ln -sf "$(command -v java)" "$ROOT/usr/bin/java"
expect_entry -rw-r--r-- etc/chronos/chronos.yml
expect_entry -rw-r--r-- etc/default/chronos
expect_entry -rwxr-xr-x etc/init.d/chronos
expect_entry -rw-r--r-- etc/logrotate.d/chronos
expect_entry -rw-r--r-- lib/systemd/system/chronos.service
expect_entry -rwxr-xr-x usr/bin/chronos-ctl
expect_entry -rw-r--r-- usr/share/man/man1/chronos-ctl.1.gz
expect_entry -rw-r--r-- usr/share/doc/chronos/copyright
expect_entry -rw-r--r-- usr/share/doc/chronos/changelog.gz
expect_entry -rw-r--r-- usr/share/doc/chronos/examples/chronos_cluster.conf.example
check "every entry is owned by root/root" bash -c '! awk "\$2 != \"root/root\"" "$1" | grep -q .' _ "$T/contents"
check "the package ships exactly 11 files" [ "$(grep -c '^-' "$T/contents")" -eq 11 ]
check "the jar runs (java -jar chronos.jar --version)" \
    bash -c 'java -jar "$1" --version >/dev/null 2>&1' _ "$ROOT/usr/share/chronos/chronos.jar"
# The service starts the JVM with /etc/default/chronos's JAVA_TOOL_OPTIONS: a JVM that refuses
# them (a typo, a collector it lacks) would never start the node.
check "the jar runs with /etc/default/chronos's JAVA_TOOL_OPTIONS: Shenandoah, priorities told to the OS" \
    bash -c '. "$1" && [ -n "${JAVA_TOOL_OPTIONS-}" ] && export JAVA_TOOL_OPTIONS &&
        flags=$(java -XX:+PrintCommandLineFlags -jar "$2" --version 2>&1) &&
        grep -q -- "-XX:+UseShenandoahGC" <<<"$flags" && grep -q -- "-XX:ThreadPriorityPolicy=1" <<<"$flags"' \
    _ "$ROOT/etc/default/chronos" "$ROOT/usr/share/chronos/chronos.jar"

# The compressed files are committed next to their sources: they must match them.
check "changelog.gz is gzip -9n of deb/changelog" \
    bash -c 'gzip -9n -c deb/changelog | cmp -s - "$1"' _ "$ROOT/usr/share/doc/chronos/changelog.gz"
check "chronos-ctl.1.gz is gzip -9n of deb/chronos-ctl.1" \
    bash -c 'gzip -9n -c deb/chronos-ctl.1 | cmp -s - "$1"' _ "$ROOT/usr/share/man/man1/chronos-ctl.1.gz"
CHANGELOG_VERSION=$(gzip -dc "$ROOT/usr/share/doc/chronos/changelog.gz" | sed -n '1s/^chronos (\([^)]*\)).*/\1/p')
if [ "$CHANGELOG_VERSION" = "$VERSION" ]; then
    pass "the changelog's latest entry is for $VERSION"
else
    fail "the changelog's latest entry is for '$CHANGELOG_VERSION', the package is $VERSION: add an entry to deb/changelog, then gzip -9n -c deb/changelog >deb/changelog.gz"
fi

# ---------------------------------------------------------------------------------------------
section "lintian"

if command -v lintian >/dev/null 2>&1; then
    lintian --info --display-info --pedantic "$DEB" >"$T/lintian" 2>&1
    lintian_rc=$?
    grep -E '^[A-Z]: ' "$T/lintian" | sed 's/^/     | /'
    if grep -Eq '^(E|W): ' "$T/lintian"; then
        fail "lintian reports errors or warnings"
    elif [ "$lintian_rc" -ne 0 ]; then
        fail "lintian failed (exit $lintian_rc)"
        show "$T/lintian"
    else
        pass "lintian: no errors, no warnings"
    fi
else
    fail "lintian is not installed and could not be installed (run as root with apt-get)"
fi

# ---------------------------------------------------------------------------------------------
section "scripts and unit"

for script in etc/init.d/chronos usr/bin/chronos-ctl; do
    check "sh -n /$script" sh -n "$ROOT/$script"
    check "/$script is a POSIX sh script" grep -qx '#!/bin/sh' <(head -n 1 "$ROOT/$script")
done
for script in postinst prerm postrm; do
    check "sh -n $script" sh -n "$T/control/$script"
done
check "maintainer scripts call systemctl only for daemon-reload" \
    bash -c '! grep -h "systemctl" "$@" | grep -v "^ *#" | grep -v "daemon-reload" | grep -q .' \
    _ "$T/control/postinst" "$T/control/prerm" "$T/control/postrm"
check "postinst creates the chronos system user" \
    grep -q 'adduser --system --group .*--home /var/lib/chronos .*chronos' "$T/control/postinst"

UNIT=$ROOT/lib/systemd/system/chronos.service
unit_has() { grep -qx "$1" "$UNIT"; }
for line in 'Type=exec' 'User=chronos' \
    'ExecStart=/usr/lib/chronos/chronos -jar /usr/share/chronos/chronos.jar server /etc/chronos/chronos.yml' \
    'ExecReload=/usr/bin/chronos-ctl reload' 'SuccessExitStatus=143' 'Restart=on-failure' \
    'LimitNICE=-5' 'LimitRTPRIO=10' 'AmbientCapabilities=CAP_SYS_NICE' 'CapabilityBoundingSet=CAP_SYS_NICE' \
    'ProtectSystem=full' 'ProtectHome=true' 'PrivateTmp=true' 'NoNewPrivileges=true' \
    'ReadWritePaths=/var/log/chronos /var/lib/chronos' 'WantedBy=multi-user.target'; do
    check "chronos.service: $line" unit_has "$line"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify checks that the commands exist: point ExecReload at the unpacked chronos-ctl, and
    # ExecStart at this machine's java if it is not /usr/bin/java.
    mkdir -p "$T/unit"
    java_path=/usr/bin/java
    [ -x "$java_path" ] || java_path=$(command -v java)
    sed -e "s#/usr/bin/chronos-ctl#$ROOT/usr/bin/chronos-ctl#" -e "s#/usr/lib/chronos/chronos #$java_path #" \
        "$UNIT" >"$T/unit/chronos.service"
    if systemd-analyze verify --man=no "$T/unit/chronos.service" >"$T/verify" 2>&1 && ! grep -q . "$T/verify"; then
        pass "systemd-analyze verify chronos.service"
    else
        fail "systemd-analyze verify chronos.service"
        show "$T/verify"
    fi
else
    note "skipped: systemd-analyze verify (systemd-analyze is not installed)"
fi

# ---------------------------------------------------------------------------------------------
section "node from the unpacked package"

# Two free ports, chosen by the kernel.
cat >"$T/FreePorts.java" <<'EOF'
import java.net.ServerSocket;

public class FreePorts {
  public static void main(String[] args) throws Exception {
    try (ServerSocket a = new ServerSocket(0); ServerSocket b = new ServerSocket(0)) {
      System.out.println(a.getLocalPort() + " " + b.getLocalPort());
    }
  }
}
EOF
APP_PORT= ADMIN_PORT=
read -r APP_PORT ADMIN_PORT < <(java "$T/FreePorts.java" 2>/dev/null)
if [ -z "$ADMIN_PORT" ]; then
    # No compiler for the source launcher (a JRE only): try random ports nobody listens on.
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        if [ -z "$APP_PORT" ]; then APP_PORT=$port; elif [ "$port" != "$APP_PORT" ]; then ADMIN_PORT=$port; break; fi
    done
fi
[ -n "$ADMIN_PORT" ] || abort "could not find free ports"
APP_URL=http://127.0.0.1:$APP_PORT
ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
note "application port $APP_PORT, admin port $ADMIN_PORT, files in $T"

# The packaged configuration, with ports and paths moved: a broken packaged file fails here.
YML=$T/chronos.yml
CLUSTER=$T/etc/chronos_cluster.conf
sed -e "s#^\( *port:\) 7253\$#\1 $APP_PORT#" \
    -e "s#^\( *port:\) 7254\$#\1 $ADMIN_PORT#" \
    -e "s#/var/log/chronos/#$T/log/#g" \
    -e "s#/etc/chronos/chronos_cluster.conf#$CLUSTER#" \
    -e "s#/etc/chronos/chronos_shared.conf#$T/etc/chronos_shared.conf#" \
    "$ROOT/etc/chronos/chronos.yml" >"$YML"
no_packaged_value_left() {
    ! sed -e 's/[[:space:]]#.*//' -e '/^[[:space:]]*#/d' "$YML" \
        | grep -E '\<(7253|7254)\>|(^|[ :])(/var/log/chronos|/etc/chronos)/'
}
check "chronos.yml: application port 7253 moved" grep -qx " *port: $APP_PORT" "$YML"
check "chronos.yml: admin port 7254 moved" grep -qx " *port: $ADMIN_PORT" "$YML"
check "chronos.yml: cluster files moved" \
    bash -c 'grep -q "configFile: $1\$" "$2" && grep -q "sharedConfigFile: $3\$" "$2"' _ "$CLUSTER" "$YML" "$T/etc/chronos_shared.conf"
check "chronos.yml: application and request logs moved, with rotation" \
    bash -c '[ "$(grep -c "currentLogFilename: $1/" "$2")" -eq 2 ] && [ "$(grep -c "archivedLogFilenamePattern: $1/" "$2")" -eq 2 ] && [ "$(grep -c "archivedFileCount:" "$2")" -eq 2 ]' \
    _ "$T/log" "$YML"
check "chronos.yml: application log is chronos.log, request log request.log" \
    bash -c 'grep -q "currentLogFilename: $1/chronos.log\$" "$2" && grep -q "currentLogFilename: $1/request.log\$" "$2"' _ "$T/log" "$YML"
check "chronos.yml: a console appender at WARN" \
    bash -c 'grep -A1 -- "- type: console" "$1" | grep -q "threshold: WARN"' _ "$YML"
check "chronos.yml: no packaged port or path left" no_packaged_value_left
check "chronos.yml passes 'chronos.jar check'" \
    bash -c 'java -jar "$1" check "$2" >"$3" 2>&1' _ "$ROOT/usr/share/chronos/chronos.jar" "$YML" "$T/check.log"

ctl() {
    CHRONOS_DEFAULTS=$ROOT/etc/default/chronos CHRONOS_ADMIN_URL=$ADMIN_URL CHRONOS_APP_URL=$APP_URL \
        "$ROOT/usr/bin/chronos-ctl" "$@" >"$T/out" 2>"$T/err"
}
# expect_ctl DESCRIPTION EXIT_STATUS PATTERN(stdout+stderr, grep -E; empty: any) ARGS...
expect_ctl() {
    local description=$1 want=$2 pattern=$3 rc
    shift 3
    ctl "$@"
    rc=$?
    if [ "$rc" -eq "$want" ] && { [ -z "$pattern" ] || cat "$T/out" "$T/err" | grep -Eq -- "$pattern"; }; then
        pass "$description"
    else
        fail "$description (exit $rc, wanted $want$( [ -n "$pattern" ] && echo ", output matching '$pattern'"))"
        cat "$T/out" "$T/err" | head -n 10 | sed 's/^/     | /'
    fi
}
ping_ok() { ctl ping; }

# A shell started under nohup passes SIGHUP on ignored, and a JVM that starts with it ignored
# cannot handle it (the node warns); systemd starts services with it at its default, and so does
# this test where env can (coreutils 8.31 and later), so that the SIGHUP checks below test the node.
RESET_HUP=()
env --default-signal=HUP true 2>/dev/null && RESET_HUP=(env --default-signal=HUP)
# Started as the package starts it, through its link to java, so that the process is named chronos.
(cd "$T/home" && exec "${RESET_HUP[@]}" "$ROOT/usr/lib/chronos/chronos" -jar "$ROOT/usr/share/chronos/chronos.jar" server "$YML") \
    >"$T/node.out" 2>&1 &
NODE_PID=$!
waited=0
while ! ping_ok; do
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
        show "$T/node.out" 30
        abort "the node exited while starting"
    fi
    [ "$waited" -lt $((START_TIMEOUT * 4)) ] || { show "$T/node.out" 30; abort "no answer to /ping within $START_TIMEOUT s"; }
    sleep 0.25
    waited=$((waited + 1))
done
pass "the node answers /ping after $((waited / 4)) s"

expect_ctl "chronos-ctl ping" 0 '^OK$' ping
expect_ctl "chronos-ctl --admin URL --app URL ping (options win over the environment)" 0 '^OK$' \
    --app "$APP_URL" --admin http://127.0.0.1:1 ping
expect_ctl "chronos-ctl status prints the health checks" 0 '"healthy" *: *true' status
expect_ctl "chronos-ctl reload without a cluster file (single node)" 0 '^reloaded: ' reload

cat >"$CLUSTER" <<EOF
[cluster]
localhost = 127.0.0.1
node = 127.0.0.1
[identity]
instance_id = 1
deployment_id = 0
EOF
# Addresses are kept as written (hashed so, as the original does); the port is added to connect.
expect_ctl "chronos-ctl reload with a valid cluster file" 0 \
    "^reloaded: .*localhost 127\.0\.0\.1, nodes \[127\.0\.0\.1\]" reload

# The packaged example, every setting uncommented, must be a valid cluster file.
sed -e 's/^#\(\[[a-z]*\]\)$/\1/' -e 's/^#\([a-z_]* = \)/\1/' \
    "$ROOT/usr/share/doc/chronos/examples/chronos_cluster.conf.example" >"$CLUSTER"
check "the example cluster file has settings to uncomment" \
    bash -c '[ "$(grep -c "^\(node\|joining\|leaving\|localhost\|instance_id\|deployment_id\) = " "$1")" -ge 6 ]' _ "$CLUSTER"
expect_ctl "chronos-ctl reload with the packaged example, uncommented" 0 \
    "^reloaded: .*joining \[10\.0\.0\.4, \[2001:db8::5\]:7253\]" reload

printf '[cluster\nnode = 127.0.0.1\n' >"$CLUSTER"
expect_ctl "chronos-ctl reload with a broken cluster file fails with the reason" 1 \
    "reload refused.*chronos_cluster\.conf" reload
check "the node still answers /ping after the refused reload" ping_ok
expect_ctl "the refused reload kept the previous view" 0 'joining \[10\.0\.0\.4' status

printf '[cluster]\nlocalhost = 127.0.0.1\nnode = 127.0.0.1\n' >"$CLUSTER"
check "the node's process is named chronos" [ "$(cat "/proc/$NODE_PID/comm")" = chronos ]
# The seeds' command; -x: only a process named exactly chronos (this node) on this machine.
pkill -HUP -x chronos
sleep 1
check "SIGHUP does not stop the node" ping_ok
hup_reloaded() { ctl status && grep -q 'joining \[\]' "$T/out"; }
waited=0
until hup_reloaded || [ "$waited" -ge 20 ]; do sleep 0.5; waited=$((waited + 1)); done
if hup_reloaded; then
    pass "SIGHUP reloads the cluster file"
else
    fail "SIGHUP reloads the cluster file"
    grep -h 'SIGHUP was ignored' "$T/node.out" | sed 's/^/     | /'
fi

expect_ctl "chronos-ctl reports a node it cannot reach (exit 3)" 3 'cannot reach Chronos' \
    --admin http://127.0.0.1:1 reload
expect_ctl "chronos-ctl rejects an unknown command (exit 2)" 2 'unknown command' frobnicate
expect_ctl "chronos-ctl --help" 0 '^Usage: chronos-ctl' --help

# POST /tasks/resync answers once the resync has finished; until the node has that task, a
# clear failure is accepted unless CHRONOS_TEST_REQUIRE_RESYNC=1.
ctl resync
rc=$?
if [ "$rc" -eq 0 ]; then
    pass "chronos-ctl resync succeeds"
elif [ "$REQUIRE_RESYNC" != 1 ] && [ "$rc" -eq 1 ] && grep -q '^chronos-ctl: resync failed' "$T/err"; then
    pass "chronos-ctl resync fails with a clear message (accepted: CHRONOS_TEST_REQUIRE_RESYNC=0)"
    note "$(head -n 1 "$T/err")"
else
    fail "chronos-ctl resync (exit $rc)"
    cat "$T/out" "$T/err" | head -n 10 | sed 's/^/     | /'
fi
if [ "$rc" -eq 0 ]; then
    # A resync that cannot reach a node still finishes (the node is retried for about 3 s), and
    # answers 200 with the failure in its summary: chronos-ctl must not call that done.
    printf '[cluster]\nlocalhost = 127.0.0.1\nnode = 127.0.0.1\nnode = 127.0.0.1:1\n' >"$CLUSTER"
    expect_ctl "chronos-ctl reload with a node that does not answer" 0 '' reload
    expect_ctl "chronos-ctl resync fails when a node could not be resynced (exit 1)" 1 \
        'could not be resynced' resync
    check "its summary is still printed" grep -q '"nodesFailed":1' "$T/out"
    printf '[cluster]\nlocalhost = 127.0.0.1\nnode = 127.0.0.1\n' >"$CLUSTER"
    expect_ctl "chronos-ctl reload back to a single node" 0 '' reload
    expect_ctl "chronos-ctl resync succeeds again once every node answers" 0 '"nodesFailed":0' resync
fi

# ---------------------------------------------------------------------------------------------
section "init script against the running node"

INIT=$ROOT/etc/init.d/chronos
init() {
    env SYSTEMCTL_SKIP_REDIRECT=1 TMPDIR="$T" CHRONOS_DEFAULTS="${INIT_DEFAULTS:-$ROOT/etc/default/chronos}" \
        CHRONOS_CTL="$ROOT/usr/bin/chronos-ctl" CHRONOS_ADMIN_URL="$ADMIN_URL" CHRONOS_APP_URL="$APP_URL" \
        "$INIT" "$@" >"$T/out" 2>&1
}
# expect_sync ACTION: success, or (until the node has the resync task) a clear failure.
expect_sync() {
    local action=$1 rc
    init "$action"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "init script $action succeeds"
    elif [ "$REQUIRE_RESYNC" != 1 ] && grep -q 'chronos-ctl: resync failed' "$T/out"; then
        pass "init script $action fails with a clear message, exit $rc (accepted: CHRONOS_TEST_REQUIRE_RESYNC=0)"
    else
        fail "init script $action (exit $rc)"
        head -n 10 "$T/out" | sed 's/^/     | /'
    fi
}
expect_sync resync
expect_sync wait-sync
check "the node still answers /ping after resync and wait-sync" ping_ok

init reload
rc=$?
check "init script reload (exit $rc)" bash -c '[ "$1" -eq 0 ] && grep -q "^reloaded: " "$2"' _ "$rc" "$T/out"
init frobnicate
rc=$?
check "init script rejects an unknown action with its usage (exit $rc)" \
    bash -c '[ "$1" -eq 3 ] && grep -q "resync|wait-sync" "$2"' _ "$rc" "$T/out"

# ---------------------------------------------------------------------------------------------
section "init script resync and wait-sync against a stand-in admin port"

# A stand-in for a node whose POST /tasks/resync answers 200 after 4 s, one resync at a time:
# checks the init script's side of the contract whatever the node under test implements.
cat >"$T/StandInAdmin.java" <<'EOF'
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public class StandInAdmin {
  public static void main(String[] args) throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    Object oneAtATime = new Object();
    server.createContext("/tasks/resync", exchange -> {
      exchange.getRequestBody().readAllBytes();
      synchronized (oneAtATime) {
        try {
          Thread.sleep(4000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      byte[] body = "resync finished\n".getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders("POST".equals(exchange.getRequestMethod()) ? 200 : 405, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    // A node whose resync reached every node but could not deliver two copies.
    server.createContext("/copies-failed/tasks/resync", exchange -> {
      exchange.getRequestBody().readAllBytes();
      byte[] body = ("{\"nodesContacted\":1,\"nodesFailed\":0,\"timersReceived\":5,"
          + "\"copiesFailed\":2,\"failures\":[]}\n").getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.setExecutor(Executors.newCachedThreadPool());
    server.start();
    System.out.println(server.getAddress().getPort());
    System.out.flush();
  }
}
EOF
java "$T/StandInAdmin.java" >"$T/standin.port" 2>"$T/standin.err" &
STANDIN_PID=$!
waited=0
until [ -s "$T/standin.port" ] || [ "$waited" -ge 120 ] || ! kill -0 "$STANDIN_PID" 2>/dev/null; do
    sleep 0.25
    waited=$((waited + 1))
done
STANDIN_PORT=$(head -n 1 "$T/standin.port" 2>/dev/null)
if [ -n "$STANDIN_PORT" ]; then
    saved_admin=$ADMIN_URL
    ADMIN_URL=http://127.0.0.1:$STANDIN_PORT
    # The init script watches the request for CHRONOS_RESYNC_WATCH seconds (3 by default) before
    # it returns; 1 here, so that returning is told from waiting for the stand-in's 4 s by a
    # margin a slow machine keeps (with 3, whole seconds of $SECONDS read 4 now and then).
    started=$SECONDS
    started_ms=$(date +%s%3N)
    CHRONOS_RESYNC_WATCH=1 init resync
    rc=$?
    elapsed_ms=$(($(date +%s%3N) - started_ms))
    if [ "$rc" -eq 0 ] && grep -q '^resync started' "$T/out" && [ "$elapsed_ms" -lt 3000 ]; then
        pass "init script resync returns while the resync runs (${elapsed_ms} ms)"
    else
        fail "init script resync returns while the resync runs (exit $rc, ${elapsed_ms} ms)"
        head -n 10 "$T/out" | sed 's/^/     | /'
    fi
    init wait-sync
    rc=$?
    elapsed=$((SECONDS - started))
    # The stand-in runs one resync at a time: wait-sync's request waits for the running one.
    if [ "$rc" -eq 0 ] && grep -q '^resync finished' "$T/out" && [ "$elapsed" -ge 4 ]; then
        pass "init script wait-sync returns when the resync has finished (${elapsed} s)"
    else
        fail "init script wait-sync returns when the resync has finished (exit $rc, ${elapsed} s)"
        head -n 10 "$T/out" | sed 's/^/     | /'
    fi
    # "pkill -HUP chronos", the seeds' reload, matches chronos-ctl too: a wait must outlive it.
    CHRONOS_DEFAULTS=$ROOT/etc/default/chronos CHRONOS_ADMIN_URL=$ADMIN_URL \
        "$ROOT/usr/bin/chronos-ctl" wait-sync >"$T/out" 2>"$T/err" &
    ctl_pid=$!
    waited=0
    until pgrep -P "$ctl_pid" curl >/dev/null 2>&1 || [ "$waited" -ge 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    # Signalled while it waits (its curl running, the stand-in answering only after 4 s).
    waiting=0
    pgrep -P "$ctl_pid" curl >/dev/null 2>&1 && kill -HUP "$ctl_pid" 2>/dev/null && waiting=1
    wait "$ctl_pid"
    rc=$?
    if [ "$waiting" -ne 1 ]; then
        fail "chronos-ctl wait-sync outlives a SIGHUP (it was not seen waiting: exit $rc)"
    elif [ "$rc" -eq 0 ] && grep -q '^resync finished' "$T/out"; then
        pass "chronos-ctl wait-sync outlives a SIGHUP (pkill -HUP chronos reloading a node)"
    else
        fail "chronos-ctl wait-sync outlives a SIGHUP (exit $rc)"
        cat "$T/out" "$T/err" | head -n 10 | sed 's/^/     | /'
    fi
    ADMIN_URL=http://127.0.0.1:$STANDIN_PORT/copies-failed
    expect_ctl "chronos-ctl resync fails when copies could not be delivered (exit 1)" 1 \
        '2 cop\(ies\) could not be delivered' resync
    check "its summary is still printed" grep -q '"copiesFailed":2' "$T/out"
    ADMIN_URL=$saved_admin
else
    note "skipped: the stand-in admin port did not start (a JRE without the source launcher?)"
    show "$T/standin.err" 5
fi
kill "$STANDIN_PID" 2>/dev/null
wait "$STANDIN_PID" 2>/dev/null
STANDIN_PID=

# ---------------------------------------------------------------------------------------------
section "logs and shutdown"

# The request log is written asynchronously: give it a moment.
waited=0
until grep -q 'GET /ping' "$T/log/request.log" 2>/dev/null || [ "$waited" -ge 20 ]; do sleep 0.25; waited=$((waited + 1)); done
check "the application log is written to the log directory" grep -q 'reloaded cluster view' "$T/log/chronos.log"
# The packaged timers.realtimeBudget: applied where this process may (root here, CAP_SYS_NICE
# under chronos.service), else refused with the reason; either way the log says which.
check "the log says whether the timer thread got the packaged SCHED_DEADLINE budget" \
    grep -Eq 'timer thread \(tid [0-9]+\) runs under SCHED_DEADLINE, up to 5000 us of CPU per 10000 us|timer thread left at normal priority: could not put it under SCHED_DEADLINE' \
    "$T/log/chronos.log"
check "the request log is written to the log directory" grep -q 'GET /ping' "$T/log/request.log"
check "the console shows warnings and errors only" bash -c '! grep -Eq "^(INFO|DEBUG|TRACE) " "$1"' _ "$T/node.out"

kill -TERM "$NODE_PID"
wait "$NODE_PID"
rc=$?
NODE_PID=
check "SIGTERM stops the node with exit status 143 (SuccessExitStatus)" [ "$rc" -eq 143 ]

# ---------------------------------------------------------------------------------------------
section "init script running the node itself (no systemd)"

# timer_thread_policy_is PID POLICY: the node's chronos-timer thread has that scheduling policy
# (the node sets it as it starts; waits up to 10 s).
timer_thread_policy_is() {
    local pid=$1 policy=$2 task tries=0
    while [ "$tries" -lt 40 ]; do
        for task in /proc/"$pid"/task/*; do
            if [ "$(cat "$task/comm" 2>/dev/null)" = chronos-timer ] \
                && chrt -p "${task##*/}" 2>/dev/null | grep -q "policy: $policy"; then
                return 0
            fi
        done
        sleep 0.25
        tries=$((tries + 1))
    done
    return 1
}

if command -v start-stop-daemon >/dev/null 2>&1 && [ -r /lib/lsb/init-functions ]; then
    INIT_DEFAULTS=$T/default
    cat >"$INIT_DEFAULTS" <<EOF
CHRONOS_JAR=$ROOT/usr/share/chronos/chronos.jar
CHRONOS_CONFIG=$YML
CHRONOS_USER=$(id -un)
CHRONOS_HOME=$T/home
CHRONOS_PIDFILE=$T/run/chronos.pid
CHRONOS_CONSOLE_LOG=$T/log/console.log
CHRONOS_JAVA=$ROOT/usr/lib/chronos/chronos
EOF
    # Started from a shell allowed few open files, as a login shell may be: the script raises it.
    (ulimit -Sn 1024 && init start)
    rc=$?
    if [ "$rc" -eq 0 ] && [ -s "$T/run/chronos.pid" ] && ping_ok; then
        pass "init script start runs the node, writes the pidfile and waits for /ping"
    else
        fail "init script start (exit $rc)"
        head -n 10 "$T/out" | sed 's/^/     | /'
        show "$T/log/console.log"
    fi
    # As root, the init script starts the node through setpriv with CAP_SYS_NICE alone (what
    # chronos.service grants), so the packaged timers.realtimeBudget applies.
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
        node_pid=$(cat "$T/run/chronos.pid" 2>/dev/null)
        check "init script (as root): the node's capabilities are CAP_SYS_NICE alone" \
            grep -Eq '^CapBnd:[[:space:]]+0000000000800000$' "/proc/${node_pid:-0}/status"
        check "init script (as root): the node's timer thread runs under SCHED_DEADLINE" \
            timer_thread_policy_is "${node_pid:-0}" SCHED_DEADLINE
    else
        note "skipped: the init script's setpriv start (needs root and setpriv)"
    fi
    node_pid=$(cat "$T/run/chronos.pid" 2>/dev/null)
    # 65536 where this shell may raise its hard limit that far, else that hard limit.
    open_files=$(sh -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ulimit -n')
    check "init script: the node may open $open_files files (chronos.service: 65536)" \
        grep -Eq "^Max open files +$open_files " "/proc/${node_pid:-0}/limits"
    # The packaged logrotate rule, pointed at this console.log, rotates it under the running node,
    # which then writes from the start of the emptied file (start-stop-daemon opens it for
    # appending), not after a hole as long as the old contents.
    if command -v logrotate >/dev/null 2>&1 && [ -n "$node_pid" ]; then
        sed "s|/var/log/chronos/console.log|$T/log/console.log|" "$ROOT/etc/logrotate.d/chronos" >"$T/logrotate.conf"
        kill -QUIT "$node_pid" # the JVM writes a thread dump to stdout
        poll 40 grep -q 'Full thread dump' "$T/log/console.log"
        logrotate -s "$T/logrotate.state" -f "$T/logrotate.conf" >"$T/out" 2>&1
        check "logrotate's rule rotates console.log (console.log.1 holds the thread dump)" \
            grep -q 'Full thread dump' "$T/log/console.log.1"
        kill -QUIT "$node_pid"
        poll 40 grep -q 'Full thread dump' "$T/log/console.log"
        check "after the rotation the node writes from the start of console.log" \
            bash -c '[ "$(head -c 1 "$1" | od -An -tx1 | tr -d " ")" != 00 ] && grep -q "Full thread dump" "$1"' _ "$T/log/console.log"
    else
        note "skipped: logrotate of console.log (no logrotate)"
    fi
    init start
    check "init script start again: already running (exit $?)" grep -q 'already running' "$T/out"
    init status
    rc=$?
    check "init script status: running (exit $rc)" bash -c '[ "$1" -eq 0 ] && grep -q "is running" "$2"' _ "$rc" "$T/out"
    init reload
    check "init script reload through the admin port (exit $?)" grep -q '^reloaded: ' "$T/out"
    pid=$(cat "$T/run/chronos.pid" 2>/dev/null)
    init stop
    rc=$?
    if [ "$rc" -eq 0 ] && [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ ! -e "$T/run/chronos.pid" ]; then
        pass "init script stop ends the node and removes the pidfile"
    else
        fail "init script stop (exit $rc, pid ${pid:-none})"
        head -n 10 "$T/out" | sed 's/^/     | /'
    fi
    init status
    check "init script status: not running (exit $?, wanted 3)" [ "$?" -eq 3 ]
    INIT_DEFAULTS=
else
    note "skipped: start/stop through the init script (no start-stop-daemon or /lib/lsb/init-functions)"
fi

finish
