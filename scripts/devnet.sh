#!/usr/bin/env bash
# devnet.sh: a multi-process Waterchain network on loopback, one process per
# node, started from the homes "waterchain testnet" writes.
#
#   scripts/devnet.sh                          # 4 validators, 1 auditor in ./waterchain-testnet
#   VALIDATORS=7 AUDITORS=2 DIR=/tmp/net scripts/devnet.sh
#
# Environment:
#   VALIDATORS  validator nodes (default 4)
#   AUDITORS    auditor nodes (default 1)
#   DIR         network directory (default ./waterchain-testnet); a network
#               already written there is resumed, not rewritten
#   BASE_PORT   first port; node k uses BASE_PORT+10k.. (default: testnet's, 26600)
#   WATERCHAIN_BIN  use this binary instead of building one
#   WAIT        seconds to wait for every node's API (default 60)
#
# It builds the binary, writes the network (testnet --devnet-params) unless
# DIR holds one, starts every node with "waterchain run --home HOME" (logs in
# DIR/logs/), waits until each answers /v1/status, prints the nodes, and
# then waits. Ctrl-C (or SIGTERM) stops every node cleanly; if a node exits
# on its own, the others are stopped too and the script fails.
set -euo pipefail

VALIDATORS=${VALIDATORS:-4}
AUDITORS=${AUDITORS:-1}
DIR=${DIR:-waterchain-testnet}
WAIT=${WAIT:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'devnet.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

PIDS=()
NAMES=()
BUILD_DIR=""

stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}

cleanup() {
	stop_all
	if [[ -n $BUILD_DIR ]]; then rm -rf "$BUILD_DIR"; fi
}
trap cleanup EXIT
trap 'log "stopping ${#PIDS[@]} nodes"; stop_all; exit 0' INT TERM

# The binary.
if [[ -n ${WATERCHAIN_BIN:-} ]]; then
	BIN=$WATERCHAIN_BIN
	[[ -x $BIN ]] || die "WATERCHAIN_BIN=$BIN is not an executable"
else
	command -v go >/dev/null || die "go is not installed (Go 1.26 builds waterchain), or set WATERCHAIN_BIN"
	BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/waterchain-devnet.XXXXXX")
	BIN=$BUILD_DIR/waterchain
	log "building waterchain"
	(cd "$ROOT" && go build -o "$BIN" ./cmd/waterchain)
fi

# The network.
if [[ -f $DIR/testnet.json ]]; then
	log "resuming the network in $DIR (remove it to start afresh)"
else
	args=(testnet --validators "$VALIDATORS" --auditors "$AUDITORS" --out "$DIR" --devnet-params)
	if [[ -n ${BASE_PORT:-} ]]; then args+=(--base-port "$BASE_PORT"); fi
	"$BIN" "${args[@]}" >/dev/null
	log "wrote a network of $VALIDATORS validators and $AUDITORS auditors to $DIR"
fi
DIR=$(cd "$DIR" && pwd)
mkdir -p "$DIR/logs"

# Nodes and API addresses, in manifest order (the manifest is indented
# JSON written by waterchain: one "name", "api" and "home" line per node).
mapfile -t NAMES < <(sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$DIR/testnet.json")
mapfile -t APIS < <(sed -n 's/^ *"api": *"\([^"]*\)".*/\1/p' "$DIR/testnet.json")
mapfile -t HOMES < <(sed -n 's/^ *"home": *"\([^"]*\)".*/\1/p' "$DIR/testnet.json")
((${#NAMES[@]} > 0)) && ((${#NAMES[@]} == ${#APIS[@]})) && ((${#NAMES[@]} == ${#HOMES[@]})) ||
	die "$DIR/testnet.json lists no nodes, or a node without its api and home"

for i in "${!NAMES[@]}"; do
	"$BIN" run --home "${HOMES[$i]}" >>"$DIR/logs/${NAMES[$i]}.log" 2>&1 &
	PIDS+=($!)
done
log "started ${#PIDS[@]} nodes; logs in $DIR/logs/"

# Wait for every API.
deadline=$((SECONDS + WAIT))
for i in "${!NAMES[@]}"; do
	until "$BIN" status --node "${APIS[$i]}" --json >/dev/null 2>&1; do
		if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
			tail -n 20 "$DIR/logs/${NAMES[$i]}.log" >&2 || true
			die "${NAMES[$i]} exited; its log is $DIR/logs/${NAMES[$i]}.log"
		fi
		((SECONDS < deadline)) || die "${NAMES[$i]} did not answer at ${APIS[$i]} within ${WAIT}s"
		sleep 0.2
	done
done

printf '%-14s %-10s %-28s %s\n' NODE PID API HOME
for i in "${!NAMES[@]}"; do
	printf '%-14s %-10s %-28s %s\n' "${NAMES[$i]}" "${PIDS[$i]}" "${APIS[$i]}" "${HOMES[$i]}"
done
echo "devnet ready: ${#NAMES[@]} nodes. Try: $BIN status --node ${APIS[0]}   (Ctrl-C stops them all)"

# Wait until a node exits on its own (or a signal arrives).
set +e
wait -n "${PIDS[@]}"
status=$?
set -e
for i in "${!PIDS[@]}"; do
	if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
		log "${NAMES[$i]} exited (status $status); stopping the others. Its log: $DIR/logs/${NAMES[$i]}.log"
	fi
done
exit 1
