#!/usr/bin/env bash
# Smoke checks with real command-line clients against one server under test:
#   - zkCli.sh (Java client, Debian's zookeeper package): one command per call (exit code 1 on error)
#     or a short script on stdin (quit closes the session);
#   - cli_mt (C client, zookeeper-bin): `-c CMD`, always exits 0, so `rc = N` is read from its output;
#   - four-letter words ruok/srvr/stat/envi/conf over a raw socket.
#
#   SERVER=ringkeeper|zookeeper tools/conformance/cli-smoke.sh
#   CK_KEEP=1 keeps the server's state dir (log, data).
#   CLI_CALL_TIMEOUT=20 per client call; CLI_SMOKE_DEADLINE=400 after which no more calls are made.
# Closing line: "cli-smoke: N passed, N failed". Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=cli-smoke
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh
CLIMT=/usr/lib/zookeeper/bin/cli_mt

fail_setup() { ck_log "$1"; ck_summary_line "$name" 0 1; exit 1; }

[ -x "$ZKCLI" ] && [ -x "$CLIMT" ] || ck_apt_install zookeeper zookeeper-bin libzookeeper-java \
  || fail_setup "cannot install zookeeper zookeeper-bin"

state=""; tmp=""
cleanup() { ck_down "$state"; [ -n "$tmp" ] && rm -f "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
state="$(ck_init)" || fail_setup "cannot make a state dir"
ck_start "$state" || fail_setup "server ${SERVER:-ringkeeper} did not start"
ck_load "$state"
hp="127.0.0.1:$CK_PORT"
tmp="$(mktemp)"
ck_log "$name: $CK_SERVER on $hp"

passed=0; failed=0
OUT=""; RC=0
ok() { passed=$((passed + 1)); echo "ok     $1"; }
nok() {
  failed=$((failed + 1)); echo "FAILED $1"
  printf '%s\n' "$OUT" | head -n 15 | sed 's/^/         | /'
}
filter_zk() {
  grep -v -E '^(SLF4J:|Connecting to |Welcome to ZooKeeper|JLine support|WATCHER::|WatchedEvent state:|$)' || true
}
# Each client call gets CLI_CALL_TIMEOUT s (the reference answers in ~1 s); past the suite's
# deadline (CLI_SMOKE_DEADLINE s) calls are not made any more and their checks fail, so a hanging
# server cannot hold CI for long.
call_timeout=${CLI_CALL_TIMEOUT:-20}
deadline=$((SECONDS + ${CLI_SMOKE_DEADLINE:-400}))
late() { [ "$SECONDS" -ge "$deadline" ] && { RC=124; OUT="(not run: past CLI_SMOKE_DEADLINE)"; }; }
# zk ARGS...: one zkCli.sh command; sets OUT (output, noise removed) and RC (exit code)
zk() {
  late && return
  timeout "$call_timeout" "$ZKCLI" -server "$hp" "$@" </dev/null >"$tmp" 2>&1; RC=$?; OUT="$(filter_zk <"$tmp")"
}
# zks 'cmd1\ncmd2...': a zkCli.sh session fed on stdin, ended with quit (closes the session)
zks() {
  late && return
  printf '%b\nquit\n' "$1" | timeout "$call_timeout" "$ZKCLI" -server "$hp" >"$tmp" 2>&1; RC=$?; OUT="$(filter_zk <"$tmp")"
}
# mt CMD: one cli_mt batch command; RC = the first "rc = N" it prints (999 if none)
mt() {
  late && return
  timeout "$call_timeout" "$CLIMT" -h "$hp" -c "$1" </dev/null >"$tmp" 2>&1
  OUT="$(grep -v -E '^(Watcher SESSION_EVENT|Got a new session|time = )' "$tmp")"
  RC="$(grep -oE 'rc = -?[0-9]+' "$tmp" | head -n 1 | grep -oE -- '-?[0-9]+' || echo 999)"
}
# check DESC WANT_RC [REGEX [!REGEX]]: judge the last zk/zks/mt call
check() {
  local desc="$1" want="$2" re="${3:-}" nre="${4:-}"
  if [ "$RC" != "$want" ]; then nok "$desc (exit/rc $RC, want $want)"; return; fi
  if [ -n "$re" ] && ! grep -qE -- "$re" <<<"$OUT"; then nok "$desc (no /$re/ in output)"; return; fi
  if [ -n "$nre" ] && grep -qE -- "$nre" <<<"$OUT"; then nok "$desc (unexpected /$nre/ in output)"; return; fi
  ok "$desc"
}
# gone DESC PATH SECONDS: poll until PATH does not exist (TTL, container, session expiry)
gone() {
  local desc="$1" path="$2" deadline=$((SECONDS + $3))
  while :; do
    zk stat "$path"
    [ "$RC" = 124 ] && { nok "$desc"; return; }
    if [ "$RC" = 1 ] && grep -q 'Node does not exist' <<<"$OUT"; then ok "$desc"; return; fi
    [ "$SECONDS" -lt "$deadline" ] || { nok "$desc (still there after $3 s)"; return; }
    sleep 1
  done
}
fourlw() { OUT="$(ck_4lw "$CK_PORT" "$1")"; RC=0; }

start=$SECONDS
# --- four-letter words ---
fourlw ruok; check "4lw ruok answers imok" 0 '^imok$'
fourlw srvr; check "4lw srvr reports the version" 0 'Zookeeper version: ' ; check "4lw srvr Zxid" 0 '^Zxid: 0x[0-9a-f]+' ; check "4lw srvr Mode" 0 '^Mode: standalone'
fourlw stat; check "4lw stat lists Clients" 0 '^Clients:'
fourlw envi; check "4lw envi has zookeeper.version=" 0 'zookeeper.version='
fourlw conf; check "4lw conf has clientPort" 0 "clientPort=$CK_PORT"

# --- zkCli.sh: basic CRUD ---
zk create /ck hello;           check "zkCli create /ck" 0 '^Created /ck$'
zk create /ck again;           check "zkCli create existing -> NodeExists, exit 1" 1 'Node already exists: /ck'
zk get /ck;                    check "zkCli get /ck" 0 '^hello$'
zk set /ck world;              check "zkCli set /ck" 0
zk get /ck;                    check "zkCli get after set" 0 '^world$'
zk stat /ck;                   check "zkCli stat: dataVersion 1, 5 bytes" 0 '^dataVersion = 1$' ; check "zkCli stat: dataLength" 0 '^dataLength = 5$'
zk set -v 7 /ck x;             check "zkCli set with wrong version -> BadVersion, exit 1" 1 'version No is not valid : /ck'
zk get /nope;                  check "zkCli get missing -> NoNode, exit 1" 1 'Node does not exist: /nope'
zk create /ck/a a;             check "zkCli create /ck/a" 0 '^Created /ck/a$'
zk create /ck/b b;             check "zkCli create /ck/b" 0 '^Created /ck/b$'
zk create /nope/child x;       check "zkCli create under missing parent -> NoNode, exit 1" 1 'Node does not exist: /nope/child'
zk create -s /ck/seq- s;       check "zkCli create -s (10-digit sequence suffix)" 0 '^Created /ck/seq-[0-9]{10}$'
zk create -s /ck/seq- s;       check "zkCli create -s again (next sequence)" 0 '^Created /ck/seq-[0-9]{10}$'
zk ls /ck;                     check "zkCli ls /ck (sorted children)" 0 '^\[a, b, seq-[0-9]{10}, seq-[0-9]{10}\]$'
zk ls -s /ck;                  check "zkCli ls -s /ck numChildren = 4" 0 '^numChildren = 4$'
zk getAllChildrenNumber /ck;   check "zkCli getAllChildrenNumber /ck" 0 '^4$'
zk delete /ck;                 check "zkCli delete non-empty -> NotEmpty, exit 1" 1 'Node not empty: /ck'
zk delete /ck/a;               check "zkCli delete /ck/a" 0
zk get /ck/a;                  check "zkCli get deleted node -> NoNode" 1 'Node does not exist: /ck/a'
zk delete -v 9 /ck/b;          check "zkCli delete with wrong version -> BadVersion, exit 1" 1 'version No is not valid : /ck/b'
zk sync /ck;                   check "zkCli sync" 0 'Sync is OK'
zk whoami;                     check "zkCli whoami (ip scheme)" 0 '^ip: 127\.0\.0\.1$'
zk ls /zookeeper;              check "zkCli ls /zookeeper" 0 'quota'

# --- ACLs and auth ---
zk getAcl /ck;                 check "zkCli getAcl world:anyone cdrwa" 0 "^'world,'anyone$" ; check "zkCli getAcl perms" 0 '^: cdrwa$'
digest_up="$(python3 -c 'import hashlib,base64;print(base64.b64encode(hashlib.sha1(b"u:p").digest()).decode())')"
zk create /ck/sec secret;      check "zkCli create /ck/sec" 0
zk setAcl /ck/sec "digest:u:$digest_up:cdrwa"; check "zkCli setAcl digest:u:...:cdrwa" 0
zk get /ck/sec;                check "zkCli get without auth -> NoAuth, exit 1" 1 'Insufficient permission : /ck/sec'
zk getAcl /ck/sec;             check "zkCli getAcl without READ -> NoAuth" 1 'Insufficient permission : /ck/sec'
zks 'addauth digest u:p\nget /ck/sec\ngetAcl /ck/sec'
check "zkCli addauth digest u:p then get" 0 '^secret$' 'Insufficient permission'
check "zkCli getAcl after auth shows digest id" 0 "^'digest,'u:$digest_up$"
zks 'addauth digest u:wrong\nget /ck/sec'
check "zkCli addauth with wrong password stays denied" 1 'Insufficient permission : /ck/sec'
zks 'addauth digest super:test\nget /ck/sec\nset /ck/sec bysuper\nget /ck/sec'
check "zkCli super digest (super:test) bypasses ACL" 0 '^bysuper$' 'Insufficient permission'
zks 'addauth digest u:p\ncreate /ck/mine m auth::cdrwa\ngetAcl /ck/mine'
check "zkCli create with auth:: ACL stores the digest id" 0 "^'digest,'u:$digest_up$"
zk setAcl /ck/b "world:anyone:r"; check "zkCli setAcl world:anyone:r" 0
zk set /ck/b x;                check "zkCli set on read-only ACL -> NoAuth" 1 'Insufficient permission : /ck/b'
zk get /ck/b;                  check "zkCli get on read-only ACL works" 0 '^b$'

# --- ephemeral, TTL and container nodes ---
zks 'create -e /ck/eph e\nget /ck/eph\ngetEphemerals'
check "zkCli create -e inside a session" 0 '^Created /ck/eph$'
check "zkCli getEphemerals lists it" 0 '/ck/eph'
zk stat /ck/eph;               check "ephemeral removed when its session closes" 1 'Node does not exist: /ck/eph'
zk_short_session() {
  late && return
  timeout "$call_timeout" "$ZKCLI" -timeout 4000 -server "$hp" "$@" </dev/null >"$tmp" 2>&1; RC=$?; OUT="$(filter_zk <"$tmp")"
}
zk_short_session create -e /ck/eph2 e
check "zkCli create -e, client exits without closing" 0 '^Created /ck/eph2$'
gone "ephemeral removed when its 4 s session expires" /ck/eph2 30
zk create -t 2000 /ck/ttl t;   check "zkCli create -t 2000 (TTL node)" 0 '^Created /ck/ttl$'
gone "TTL node removed after its TTL" /ck/ttl 20
zk create -c /ck/cont c;       check "zkCli create -c (container)" 0 '^Created /ck/cont$'
zk create /ck/cont/kid k;      check "zkCli create child of container" 0
zk delete /ck/cont/kid;        check "zkCli delete child of container" 0
gone "empty container removed by the container check" /ck/cont 20

# --- deleteall (as super: /ck/sec and /ck/mine are unreadable to others; which one deleteall
# trips on first depends on the order getChildren returns) ---
zk deleteall /ck;              check "zkCli deleteall over an unreadable child -> NoAuth" 1 'Insufficient permission : /ck/(sec|mine)$'
zks 'addauth digest super:test\ndeleteall /ck'
check "zkCli deleteall /ck as super" 0 '' 'Insufficient permission|Node not empty' 
zk ls /ck;                     check "zkCli ls after deleteall -> NoNode" 1 'Node does not exist: /ck'

# --- cli_mt (C client) ---
mt "ls /";                     check "cli_mt ls /" 0 'zookeeper'
mt "create /cm";               check "cli_mt create /cm" 0 'name = /cm$'
mt "create /cm";               check "cli_mt create existing -> rc -110 (ZNODEEXISTS)" -110
mt "set /cm hello";            check "cli_mt set /cm" 0 'version=1'
mt "get /cm";                  check "cli_mt get /cm" 0 '^hello$'
mt "create +s /cm/s-";         check "cli_mt create +s" 0 'name = /cm/s-[0-9]{10}$'
mt "create +e /cm/e";          check "cli_mt create +e" 0 'name = /cm/e$'
mt "ls2 /cm";                  check "cli_mt ls2 /cm" 0 's-[0-9]{10}'
mt "get /nope";                check "cli_mt get missing -> rc -101 (ZNONODE)" -101
mt "ls /nope";                 check "cli_mt ls missing -> rc -101" -101
mt "set /nope x";              check "cli_mt set missing -> rc -101" -101
mt "delete /cm";               check "cli_mt delete non-empty -> rc -111 (ZNOTEMPTY)" -111
mt "delete /";                 check "cli_mt delete / -> rc -8 (ZBADARGUMENTS)" -8
mt "sync /cm";                 check "cli_mt sync" 0
mt "create +c /cm/cont";       check "cli_mt create +c (container)" 0 'name = /cm/cont$'
mt "delete /cm/cont";          check "cli_mt delete container" 0
mt "ls /cm";                   check "cli_mt: ephemeral gone after its session" 0 's-[0-9]{10}' '^	e$'

ck_log "$name: $((SECONDS - start)) s"
[ "$failed" -gt 0 ] && { ck_log "server log tail:"; tail -n 30 "$state/server.log" >&2; }
ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
