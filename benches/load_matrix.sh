#!/usr/bin/env bash
# End-to-end load matrix: tessera (and wsprobe limit-server, the measured ceiling) driven by
# tessera-load over loopback, one fresh server per run. Every run appends one JSON line to
# $OUT_DIR/<item>.jsonl: {"item", "label", "server", "server_args", "cmd", "date", "commit", "try", "contaminated",
# "other_cpu_pct", "rss_before_kib", "rss_samples_kib", "load": <tessera-load --json report>}.
#
# Usage: benches/load_matrix.sh ITEM...     ITEM = p1 p2 p2tick p2long p2b p3 p3pts p3rep p3ext p3ext2 p4 p5 p6 (see the functions below)
#        e.g. P3_RATES=8000 P3_KINDS=limit benches/load_matrix.sh p3;  P6_SESSIONS=1000 ... p6
#        p6 overrides: P6_SESSIONS, P6_RATES, P6_SCENARIOS (lists), P6_READY (--ready-timeout)
#        p3 ladder overrides: P3_NS="250 500 ..." (sessions to try), P3_LO (largest known pass)
#        p3pts: P3_POINTS="tessera:8000:1000 limit:8000:1250 ..." (kind:rate:sessions), REPEAT rounds;
#        kind tessera-wb2 runs the server with server.whole_board_ticks = 2; kind tessera-b runs
#        TESSERA_BIN_B (another build, recorded as TESSERA_COMMIT_B) for interleaved A/B points
# Env:   OUT_DIR (default /tmp/e2e), WSPROBE (default ../shared/tools/wsprobe, built there),
#        REPEAT (runs per point where a median is wanted, default 3),
#        TESSERA_BIN (the server binary, default target/release/tessera: another build for A/B runs),
#        TESSERA_LOAD (the generator, default target/release/tessera-load: an A/B run across a
#        protocol change needs each build's own), TESSERA_COMMIT (the commit recorded with each
#        run, default HEAD's: the commit those binaries were built from)
#
# Each run: wait until the machine is idle (<10% busy for 2 s in a row, up to 3 min), start the
# server in a temp working dir (port 0, temp data dir, open-file limit raised to the hard limit),
# run the generator (bounded by --duration), SIGINT the server, wait for it. A run where the
# machine was busier than server + generator by more than 15% of one core (this includes kernel threads such as ksoftirqd, which take a few % under heavy loopback traffic) is flagged
# "contaminated" and retried (up to 3 tries).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT_DIR=${OUT_DIR:-/tmp/e2e}
WSPROBE_DIR=${WSPROBE:-$ROOT/../shared/tools/wsprobe}
REPEAT=${REPEAT:-3}
mkdir -p "$OUT_DIR"

cargo build --release --bins -q
(cd "$WSPROBE_DIR" && cargo build --release -q)
SERVER=${TESSERA_BIN:-$ROOT/target/release/tessera}
LOAD=${TESSERA_LOAD:-$ROOT/target/release/tessera-load}
LIMIT=$WSPROBE_DIR/target/release/wsprobe
COMMIT=${TESSERA_COMMIT:-$(git rev-parse --short HEAD)}
NPROC=$(nproc)
ulimit -n "$(ulimit -Hn)"

busy_pct() { # % of all cores busy over one second
  local a b; a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]) - (a[1]+a[2]+a[3]+a[6]+a[7]) ))
  local idle=$(( (b[4]+b[5]) - (a[4]+a[5]) ))
  echo $(( 100 * busy / (busy + idle + 1) ))
}

wait_quiet() { # 2 idle seconds in a row, give up after ~3 minutes
  local quiet=0
  for _ in $(seq 180); do
    if [ "$(busy_pct)" -lt 10 ]; then quiet=$((quiet + 1)); [ $quiet -ge 2 ] && return 0; else quiet=0; fi
  done
  echo "warning: machine never went quiet: $(top -bn1 | sed -n 8,10p | tr '\n' ' ')" >&2
}

SPID="" TMPD="" SAMPLER=""
start_tessera() { # env assignments...; sets SPID, URL
  TMPD=$(mktemp -d)
  (
    cd "$TMPD"
    ulimit -n "$(ulimit -Hn)"
    exec env TESSERA__SERVER__LISTEN=127.0.0.1:0 TESSERA__STORAGE__DATA_DIR="$TMPD/data" "$@" \
      "$SERVER" >"$TMPD/server.out" 2>"$TMPD/server.err"
  ) &
  SPID=$!
  URL=""
  for _ in $(seq 1200); do # creating 65,536 tiles takes a while
    if head -1 "$TMPD/server.out" 2>/dev/null | grep -q 'Tessera is running'; then
      URL=$(head -1 "$TMPD/server.out" | sed -E 's#.*http://([0-9.]+:[0-9]+)/.*#ws://\1/ws#')
      break
    fi
    kill -0 "$SPID" 2>/dev/null || { cat "$TMPD/server.err" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$URL" ] || { echo "server did not start" >&2; return 1; }
}

start_limit() { # tick_ms; sets SPID, URL
  TMPD=$(mktemp -d)
  local port=$((12000 + RANDOM % 20000)) # below the ephemeral range, where the clients' TIME_WAIT sockets are
  (ulimit -n "$(ulimit -Hn)"; exec "$LIMIT" limit-server --addr "127.0.0.1:$port" --tick-ms "$1" \
    --max-secs 600 >"$TMPD/server.out" 2>"$TMPD/server.err") &
  SPID=$!
  for _ in $(seq 100); do grep -q "limit-server on" "$TMPD/server.err" 2>/dev/null && break; sleep 0.1; done
  URL="ws://127.0.0.1:$port/"
}

stop_server() {
  kill -INT "$SPID" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SPID" 2>/dev/null && { echo "server $SPID did not stop; SIGKILL" >&2; kill -9 "$SPID"; }
  wait "$SPID" 2>/dev/null || true
  rm -rf "$TMPD"
}

start_sampler() { # samples the server's VmRSS (KiB) every 0.5 s into $TMPD/rss
  ( while kill -0 "$SPID" 2>/dev/null; do
      awk '/VmRSS/ {print $2}' "/proc/$SPID/status" 2>/dev/null || true; sleep 0.5
    done >"$TMPD/rss" ) &
  SAMPLER=$!
}

# run ITEM LABEL SERVER_KIND SERVER_ARGS(one string) -- LOAD_ARGS...
#   SERVER_KIND tessera: SERVER_ARGS = "VAR=val VAR=val"; limit: SERVER_ARGS = tick ms.
run() {
  local item=$1 label=$2 kind=$3 sargs=$4; shift 5
  local try out other rss0 rsssamples
  for try in 1 2 3; do
    wait_quiet
    if [ "$kind" = tessera ]; then
      # shellcheck disable=SC2086
      start_tessera $sargs
    else
      start_limit "$sargs"
    fi
    sleep 1
    if ! rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SPID/status" 2>/dev/null); then
      echo "server exited at startup ($label): $(tail -3 "$TMPD/server.err")" >&2; stop_server; continue
    fi
    start_sampler
    local cmd=("$LOAD" --json --url "$URL" --server-pid "$SPID" "$@")
    local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    if out=$("${cmd[@]}" 2>"$TMPD/load.err"); then :; else
      echo "load failed ($label): $(tail -3 "$TMPD/load.err")" >&2; out=null
    fi
    kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
    rsssamples=$(tr '\n' ',' <"$TMPD/rss" | sed 's/,$//')
    stop_server
    other=$(jq -n --argjson l "$out" --argjson n "$NPROC" \
      'if $l == null or $l.machine_busy_pct == null then null
       else ($l.machine_busy_pct * $n - ($l.server_cpu_pct // 0) - ($l.tool_cpu_pct // 0)) * 1000 | round / 1000 end')
    local contaminated=false
    if [ "$other" != null ] && jq -en "$other > 15" >/dev/null; then contaminated=true; fi
    jq -cn --arg item "$item" --arg lbl "$label" --arg kind "$kind" --arg sargs "$sargs" \
      --arg cmd "${cmd[*]}" --arg date "$date" --arg commit "$COMMIT" --argjson tr "$try" \
      --argjson contaminated "$contaminated" --argjson other "$other" --argjson rss0 "${rss0:-null}" \
      --arg rss "$rsssamples" --argjson load "$out" \
      '{"item": $item, "label": $lbl, "server": $kind, "server_args": $sargs, "cmd": $cmd, "date": $date,
        "commit": $commit, "try": $tr, "contaminated": $contaminated, "other_cpu_pct": $other,
        "rss_before_kib": $rss0, "rss_samples_kib": ($rss | split(",") | map(select(. != "") | tonumber)),
        "load": $load}' >>"$OUT_DIR/$item.jsonl"
    echo "$(date -u +%T) $item $label try $try: $(jq -c '{pps: .paints_per_s, miss: .missing, dup: .duplicates,
      p50: .latency_ms.p50, p99: .latency_ms.p99, srv: .server_cpu_pct, usr: .server_user_cpu_pct,
      sys: .server_system_cpu_pct, tool: .tool_cpu_pct,
      busy: .machine_busy_pct, rss: .server_rss_mib}' <<<"$out") other=$other" >&2
    [ "$contaminated" = false ] && break
    echo "  contaminated (other processes used $other% of a core); retrying" >&2
  done
}

HI_LIMIT="TESSERA__LIMITS__MAX_MESSAGES_PER_SECOND=100000"

p1() { # paint intake: 200 overview viewers, 1000x1000, 64,000 paints/s, tile 64 and 128; median of 3
  local ts i
  for ts in 64 128; do for i in $(seq "$REPEAT"); do
    run p1 "tessera tile=$ts run=$i" tessera \
      "TESSERA__BOARDS__0__WIDTH=1000 TESSERA__BOARDS__0__HEIGHT=1000 TESSERA__BOARDS__0__TILE_SIZE=$ts $HI_LIMIT" -- \
      --sessions 200 --painters 80 --scenario overview --paint-rate 64000 --duration 10 --warmup 3
  done; done
  for i in $(seq "$REPEAT"); do
    run p1 "limit-server tick=20 run=$i" limit 20 -- --protocol raw --board-width 1000 --board-height 1000 \
      --sessions 200 --painters 80 --scenario overview --paint-rate 64000 --duration 10 --warmup 3
  done
}

p2_runs() { # item tick_ms (empty: the default): p2's runs, P2_REPEAT (default REPEAT) of them
  local i env="TESSERA__BOARDS__0__WIDTH=16384 TESSERA__BOARDS__0__HEIGHT=16384 $HI_LIMIT"
  [ -z "$2" ] || env="$env TESSERA__SERVER__TICK_MS=$2"
  for i in $(seq "${P2_REPEAT:-$REPEAT}"); do
    run "$1" "tessera 16384${2:+ tick=$2} run=$i" tessera "$env" -- \
      --sessions 10000 --painters 20 --scenario uniform --zoom 4 --paint-rate 8000 --duration 10 --warmup 3
  done
}

p2() { # uniform 16384x16384, zoom 4, 10,000 sessions, 8,000 paints/s
  p2_runs p2 ""
}

p2tick() { # p2 with a shorter batching tick (P2_TICK_MS, default 10): the tick's burst is the latency
  p2_runs p2tick "${P2_TICK_MS:-10}"
}

p2long() { # p2 over 75 s with snapshots every 60 s (P2LONG_INTERVAL): the window holds one pass
  local i
  for i in $(seq "${P2_REPEAT:-1}"); do
    run p2long "tessera 16384 75s interval=${P2LONG_INTERVAL:-60} run=$i" tessera \
      "TESSERA__BOARDS__0__WIDTH=16384 TESSERA__BOARDS__0__HEIGHT=16384 TESSERA__STORAGE__SNAPSHOT_INTERVAL_SECS=${P2LONG_INTERVAL:-60} $HI_LIMIT" -- \
      --sessions 10000 --painters 20 --scenario uniform --zoom 4 --paint-rate 8000 --duration 75 --warmup 3
  done
}

p2b() { # control for p2: same board and sessions, 1 paint/s (the cost of 10,000 connected sessions alone)
  run p2b "tessera 16384 idle-paint" tessera \
    "TESSERA__BOARDS__0__WIDTH=16384 TESSERA__BOARDS__0__HEIGHT=16384 $HI_LIMIT" -- \
    --sessions 10000 --painters 1 --scenario uniform --zoom 4 --paint-rate 1 --duration 10 --warmup 1
}

p3_point() { # kind rate sessions; kind tessera-wbN: server.whole_board_ticks = N
  if [[ "$1" == tessera* ]]; then
    local wb="" server=$SERVER commit=$COMMIT
    [[ "$1" == tessera-wb* ]] && wb="TESSERA__SERVER__WHOLE_BOARD_TICKS=${1#tessera-wb}"
    if [ "$1" = tessera-b ]; then
      server=${TESSERA_BIN_B:?kind tessera-b needs TESSERA_BIN_B}
      commit=${TESSERA_COMMIT_B:?kind tessera-b needs TESSERA_COMMIT_B}
    fi
    SERVER=$server COMMIT=$commit run p3 "$1 rate=$2 sessions=$3" tessera \
      "TESSERA__BOARDS__0__WIDTH=1000 TESSERA__BOARDS__0__HEIGHT=1000 $HI_LIMIT $wb" -- \
      --sessions "$3" --painters 20 --scenario overview --paint-rate "$2" --duration 10 --warmup 3
  else
    run p3 "limit-server rate=$2 sessions=$3" limit 20 -- --protocol raw --board-width 1000 --board-height 1000 \
      --sessions "$3" --painters 20 --scenario overview --paint-rate "$2" --duration 10 --warmup 3
  fi
}

p3_ok() { # last line of p3.jsonl passes: p99 <= 100 ms, missing == 0, all sessions connected
  tail -1 "$OUT_DIR/p3.jsonl" | jq -e '.load != null and .load.missing == 0 and .load.latency_ms.p99 <= 100
    and .load.sessions_connected == .load.sessions_requested' >/dev/null
}

p3() { # overview capacity at 1,000 and 8,000 paints/s; override with P3_KINDS / P3_RATES
  local kind rate n lo hi mid
  for rate in ${P3_RATES:-1000 8000}; do for kind in ${P3_KINDS:-tessera limit}; do
    lo=${P3_LO:-0} hi=""
    for n in ${P3_NS:-250 500 1000 2000 4000 8000}; do
      p3_point "$kind" "$rate" "$n"
      if p3_ok; then lo=$n; else hi=$n; break; fi
    done
    # coarse bisection: stop when the bracket is within 25%
    while [ -n "$hi" ] && [ "$lo" -gt 0 ] && [ $((hi * 100 / lo)) -gt 125 ]; do
      mid=$(( (lo + hi) / 2 ))
      p3_point "$kind" "$rate" "$mid"
      if p3_ok; then lo=$mid; else hi=$mid; fi
    done
    echo "p3 $kind rate=$rate: largest passing = $lo, first failing = ${hi:-none}" | tee -a "$OUT_DIR/p3_summary.txt" >&2
  done; done
}

p3pts() { # P3_POINTS="kind:rate:sessions ...", each point REPEAT times, round-robin (interleaved)
  local i pt kind rate n
  for i in $(seq "$REPEAT"); do for pt in $P3_POINTS; do
    IFS=: read -r kind rate n <<<"$pt"
    p3_point "$kind" "$rate" "$n"
  done; done
}

p3rep() { # two more runs at each p3 boundary found on this machine (largest pass, first fail)
  local i
  for i in 2 3; do
    p3_point tessera 1000 437; p3_point tessera 1000 500
    p3_point limit 1000 1750; p3_point limit 1000 2000
    p3_point tessera 8000 250; p3_point tessera 8000 312
    p3_point limit 8000 1000; p3_point limit 8000 1250
  done
}

p3ext() { # three runs at the next points above boundaries that passed by median in p3rep
  local i
  for i in 1 2 3; do
    p3_point tessera 1000 625; p3_point limit 1000 2250; p3_point tessera 8000 375
  done
}

p3ext2() { # tessera at 1,000 paints/s above 625 (single runs)
  p3_point tessera 1000 750; p3_point tessera 1000 1000; p3_point tessera 1000 875
}

p4() { # memory per idle session: 5,000 small viewports on 2048x2048, 1 paint/s
  run p4 "tessera idle 5000" tessera "TESSERA__BOARDS__0__WIDTH=2048 TESSERA__BOARDS__0__HEIGHT=2048" -- \
    --sessions 5000 --painters 1 --scenario uniform --zoom 16 --paint-rate 1 --duration 20 --warmup 1
}

p5() { # tile-size sweep, 2048x2048, 2,000 sessions, 4,000 paints/s, single runs
  local ts sc
  for sc in uniform hotspot; do for ts in 32 64 128 256 512; do
    run p5 "tessera $sc tile=$ts" tessera \
      "TESSERA__BOARDS__0__WIDTH=2048 TESSERA__BOARDS__0__HEIGHT=2048 TESSERA__BOARDS__0__TILE_SIZE=$ts $HI_LIMIT" -- \
      --sessions 2000 --painters 20 --scenario "$sc" --zoom 2 --paint-rate 4000 --duration 10 --warmup 3
  done; done
}

p6() { # scenario matrix, single runs, 2048x2048 default board; ceiling rows on a 1000x1000 raw board
  # P6_READY=SECS: the generator's --ready-timeout for the tessera rows (default 15 s), which at
  # thousands of sessions must cover 2-4 MiB of first states per viewer (BENCHMARKS.md, 6b).
  local n r sc
  for n in ${P6_SESSIONS:-1000 5000 10000}; do for r in ${P6_RATES:-1000 4000 8000}; do
    for sc in ${P6_SCENARIOS:-overview uniform hotspot pan}; do
      run p6 "tessera $sc sessions=$n rate=$r" tessera "$HI_LIMIT" -- \
        --sessions "$n" --painters 20 --scenario "$sc" --paint-rate "$r" --duration 10 --warmup 3 \
        ${P6_READY:+--ready-timeout "$P6_READY"}
    done
    run p6 "limit-server sessions=$n rate=$r" limit 20 -- --protocol raw \
      --sessions "$n" --painters 20 --scenario overview --paint-rate "$r" --duration 10 --warmup 3
  done; done
}

[ $# -gt 0 ] || set -- p1 p2 p3 p4 p5 p6
for item in "$@"; do "$item"; done
