#!/usr/bin/env bash
# Runs a three-node honuad cluster on loopback for trying things out:
#   API     127.0.0.1:7201-7203
#   raft    127.0.0.1:7301-7303
#   gossip  127.0.0.1:7401-7403 (TCP and UDP)
# Data and logs live in .run/ (git-ignored) and survive restarts; `make clean`
# removes them. Ctrl-C stops all three nodes cleanly.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
run="$root/.run"
mkdir -p "$run"

pids=()
stop() {
	trap - INT TERM EXIT
	if ((${#pids[@]})); then
		echo
		echo "stopping the cluster..."
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
		echo "stopped; data and logs are in .run/ (make clean removes them)"
	fi
}
trap stop EXIT
trap 'exit 0' INT TERM

joins=(--join 127.0.0.1:7401 --join 127.0.0.1:7402 --join 127.0.0.1:7403)
for i in 1 2 3; do
	"$bin/honuad" agent \
		--node-id "node$i" \
		--data-dir "$run/node$i" \
		--http-addr "127.0.0.1:720$i" \
		--raft-addr "127.0.0.1:730$i" \
		--gossip-addr "127.0.0.1:740$i" \
		--bootstrap-expect 3 "${joins[@]}" \
		>>"$run/node$i.log" 2>&1 &
	pids+=($!)
done
echo "started node1-3 (pids ${pids[*]}); logs in .run/node1.log .. node3.log"

addrs=127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203
for _ in $(seq 1 300); do
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "a node exited during startup; its log says:" >&2
			tail -n 20 "$run"/node*.log >&2
			exit 1
		fi
	done
	if "$bin/honuactl" --addr "$addrs" status -o json 2>/dev/null | grep -q '"leader": {'; then
		break
	fi
	sleep 0.1
done

echo
"$bin/honuactl" --addr "$addrs" status || true
cat <<HINT

The cluster is up. In another terminal, try:
  bin/honuactl status                      # this node's view: leader, term, members
  bin/honuactl --addr 127.0.0.1:7202 members -o json
  curl -s 127.0.0.1:7203/v1/status         # the raw API
  kill -9 <pid of the leader>              # watch another node take over
Press Ctrl-C here to stop all three.
HINT

# Wait until Ctrl-C, or until a node dies on its own.
while true; do
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "note: node with pid $pid exited; see its log in .run/" >&2
			pids=("${pids[@]/$pid}")
			read -r -a pids <<<"${pids[*]}"
		fi
	done
	((${#pids[@]})) || exit 1
	# wait (unlike a bare sleep) lets Ctrl-C stop us at once.
	sleep 1 &
	wait $! || true
done
