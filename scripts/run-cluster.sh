#!/usr/bin/env bash
# Runs a three-node honuad cluster on loopback for trying things out:
#   API     127.0.0.1:7201-7203 (the dashboard at https://127.0.0.1:7201/ui/)
#   raft    127.0.0.1:7301-7303
#   gossip  127.0.0.1:7401-7403 (TCP and UDP)
# The nodes watch a sample configuration repository (.run/config.git, with a
# work tree in .run/config to commit from) and deploy its development
# environment to a directory target, .run/targets/development, and staging
# and production through target agents (honuad target-agent), as to Honua
# servers on other hosts:
#   agents  127.0.0.1:7511 staging     -> .run/targets/staging
#           127.0.0.1:7512 production  -> .run/targets/production-a
#           127.0.0.1:7513 production  -> .run/targets/production-b The API takes only https and tokens, raft uses mutual TLS
# (a CA and node certificates made once in .run/tls/), and gossip is
# encrypted (a key made once in .run/gossip.key). Data and logs
# live in .run/ (git-ignored) and survive restarts; `make clean` removes
# them. Ctrl-C stops all three nodes cleanly.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
run="$root/.run"
mkdir -p "$run"

"$root/scripts/sample-repo.sh" "$run"

# A CA and a certificate for each node, made once and kept across runs.
tls="$run/tls"
if [[ ! -f "$tls/honua-ca.pem" ]]; then
	"$bin/honuad" tls ca create --dir "$tls" --name "Honua make run CA" >/dev/null
	echo "created a CA in .run/tls/ (honua-ca.pem; its key honua-ca-key.pem signs the nodes' certificates)"
fi
for i in 1 2 3; do
	if [[ ! -f "$tls/server-node$i.pem" ]]; then
		"$bin/honuad" tls cert create --dir "$tls" --server --node "node$i" >/dev/null
	fi
done
# The target agents' certificates (they carry 127.0.0.1, which the nodes
# dial), from the same CA.
agents=("staging 7511" "production-a 7512" "production-b 7513")
for spec in "${agents[@]}"; do
	read -r name _ <<<"$spec"
	if [[ ! -f "$tls/server-agent-$name.pem" ]]; then
		"$bin/honuad" tls cert create --dir "$tls" --server --node "agent-$name" >/dev/null
	fi
done
# The key that encrypts gossip, made once; each node keeps its keyring in
# its data dir after the first start.
if [[ ! -f "$run/gossip.key" ]]; then
	(umask 077 && "$bin/honuad" keygen >"$run/gossip.key.tmp")
	mv "$run/gossip.key.tmp" "$run/gossip.key"
fi

pids=()
agent_pids=()
listener=""
stop() {
	trap - INT TERM EXIT
	if [[ -n "$listener" ]]; then
		kill -TERM "$listener" 2>/dev/null || true
	fi
	if ((${#agent_pids[@]})); then
		kill -TERM "${agent_pids[@]}" 2>/dev/null || true
		wait "${agent_pids[@]}" 2>/dev/null || true
	fi
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

# The receiver of the cluster's notifications (a webhook channel, see
# .run/honuad.yaml): it checks each delivery's signature and logs it.
"$bin/honuactl" notifications listen --listen-addr 127.0.0.1:7500 --secret-file "$run/hook-secret" \
	>>"$run/notifications.log" 2>&1 &
listener=$!

# The target agents: each writes the bundles the nodes PUT into its folder,
# which a Honua server would read (there is none here: no --reload-url).
for spec in "${agents[@]}"; do
	read -r name port <<<"$spec"
	"$bin/honuad" target-agent \
		--listen "127.0.0.1:$port" \
		--dir "$run/targets/$name" \
		--tokens-file "$run/agents/tokens.yaml" \
		--tls-ca-file "$tls/honua-ca.pem" \
		--tls-cert-file "$tls/server-agent-$name.pem" \
		--tls-key-file "$tls/server-agent-$name-key.pem" \
		>>"$run/agent-$name.log" 2>&1 &
	agent_pids+=($!)
done
echo "started the target agents of staging and production (pids ${agent_pids[*]}); logs in .run/agent-*.log"

joins=(--join 127.0.0.1:7401 --join 127.0.0.1:7402 --join 127.0.0.1:7403)
for i in 1 2 3; do
	security=(
		--tls-ca-file "$tls/honua-ca.pem"
		--tls-cert-file "$tls/server-node$i.pem"
		--tls-key-file "$tls/server-node$i-key.pem"
		--gossip-key-file "$run/gossip.key"
	)
	"$bin/honuad" agent \
		--node-id "node$i" \
		--data-dir "$run/node$i" \
		--http-addr "127.0.0.1:720$i" \
		--raft-addr "127.0.0.1:730$i" \
		--gossip-addr "127.0.0.1:740$i" \
		--bootstrap-expect 3 "${joins[@]}" \
		"${security[@]}" \
		--config "$run/honuad.yaml" \
		>>"$run/node$i.log" 2>&1 &
	pids+=($!)
done
echo "started node1-3 (pids ${pids[*]}); logs in .run/node1.log .. node3.log"

addrs=https://127.0.0.1:7201,https://127.0.0.1:7202,https://127.0.0.1:7203
ctl=("$bin/honuactl" --addr "$addrs" --ca-file "$tls/honua-ca.pem" --token-file "$run/admin.token")
for _ in $(seq 1 300); do
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "a node exited during startup; its log says:" >&2
			tail -n 20 "$run"/node*.log >&2
			exit 1
		fi
	done
	if "${ctl[@]}" status -o json 2>/dev/null | grep -q '"leader": {'; then
		break
	fi
	sleep 0.1
done

echo
"${ctl[@]}" status || true
cat <<HINT

The cluster is up and deploys the sample repository's environments to
.run/targets/ (development and staging at once; production waits for an
approval from devops-team). Development is a directory target; staging and
production go through target agents, as to Honua servers on other hosts:
staging to one (127.0.0.1:7511), production to two (:7512 and :7513), each
writing its folder (.run/targets/staging, production-a, production-b) and
checking the nodes' bearer token and fencing token (docs/targets.md).

The dashboard is served by every node: open https://127.0.0.1:7201/ui/
(or :7202, :7203) and sign in by pasting the contents of .run/alice.token
(alice is an approver in devops-team, as bob is: .run/bob.token):
  cat .run/alice.token
Your browser must trust the cluster's CA, .run/tls/honua-ca.pem (import it as
an authority), or you accept its certificate warning once per node. From there
you can read production's waiting deployment, its plan, and approve it.

In another terminal:

  export HONUA_ADDR=$addrs
  export HONUA_CACERT=.run/tls/honua-ca.pem HONUA_TOKEN=\$(cat .run/alice.token)
  bin/honuactl status                          # leader, members, repository
  bin/honuactl deployments                     # newest first
  cat .run/targets/development/metadata.json   # what development serves
  curl -s --cacert .run/tls/honua-ca.pem -H "Authorization: Bearer \$(cat .run/agents/honuad.token)" \\
    https://127.0.0.1:7511/v1/bundle            # what staging's agent serves, and its fencing token

Commit a change and watch it deploy (polled every 5s):
  cd .run/config
  sed -i 's/"Sample Points"/"Sample Points v2"/' environments/development/metadata.json
  git commit -qam "Retitle the points layer" && git push -q && cd ../..
  bin/honuactl deployments --env development --limit 1

Production's first deployment waits for an approval (alice is in devops-team),
and the cluster says so on its webhook channel (make run's receiver logs it):
  tail .run/notifications.log                  # ApprovalRequired production-… [delivery …]
  bin/honuactl notifications                   # the outbox: event, channel, state, attempts
  bin/honuactl deployments --env production --state AwaitingApproval
  bin/honuactl approve <id> --comment "first production deployment"

Production then rolls out in waves (.gitops/deployment-policy.yaml): production-a
first, baking a minute, then production-b. Watch it, and end the bake early:
  bin/honuactl rollout <id> --watch            # each wave: phase, targets, token, bake
  bin/honuactl promote <id>                    # (or abort <id> --reason ...: rolls back)
  bin/honuactl wait <id>

Preview a change on a branch before merging it, as CI on a pull request
would (exit 0: no changes, 1: changes, 2: the branch fails validation):
  cd .run/config && git checkout -qb reproject
  sed -i 's/"srid": 4326/"srid": 3857/' environments/production/metadata.json
  git commit -qam "Reproject the points" && git push -q origin reproject && cd ../..
  bin/honuactl plan production --ref reproject; echo "exit \$?"

Then merge it, read its plan, approve it:
  (cd .run/config && git checkout -q main && git merge -q reproject && git push -q)
  bin/honuactl deployments --env production --limit 1
  bin/honuactl diff <id>
  bin/honuactl approve <id> && bin/honuactl wait <id>

During an incident, hold an environment (new commits wait as Pending) and
cancel what should not go out:
  bin/honuactl suspend staging --reason "INC-1: investigating"
  bin/honuactl environments                    # deployed, newest, pinned, suspended
  bin/honuactl cancel <id of a waiting deployment> --reason "not this one"
  bin/honuactl resume staging

Roll it back (the environment stays pinned until the next commit touches it):
  bin/honuactl rollback production --yes
  bin/honuactl history production
  bin/honuactl deployment <rollback id> --verbose

  kill -9 <pid of the leader>                  # another node takes over
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
