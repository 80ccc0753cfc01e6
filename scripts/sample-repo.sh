#!/usr/bin/env bash
# Creates, once, the sample configuration repository `make run` watches and
# the honuad configuration that points the nodes at it:
#   DIR/config.git   the repository (bare), the "remote" honuad polls
#   DIR/config       a work tree to edit, commit and push from
#   DIR/targets/     where each environment's bundle is deployed: development
#                    by a directory target, staging and production through
#                    honuad target-agent processes (run-cluster.sh starts
#                    them), one for staging and two for production
#   DIR/agents/      the agents' tokens file (SHA-256 only) and the token the
#                    nodes send them, DIR/agents/honuad.token
#   DIR/honuad.yaml  the nodes' configuration
#   DIR/tokens.yaml  API tokens (SHA-256 only), with the tokens themselves in
#                    DIR/alice.token, DIR/bob.token (approvers in devops-team)
#                    and DIR/admin.token
set -euo pipefail

dir="$(cd "${1:?usage: sample-repo.sh DIR}" && pwd)"
repo="$dir/config.git"
work="$dir/config"
mkdir -p "$dir/targets"

if [[ ! -d "$repo" ]]; then
	command -v git >/dev/null || { echo "make run needs git (Debian: apt-get install git)" >&2; exit 1; }
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/environments/common" "$tmp/.gitops"
	for env in development staging production; do
		mkdir -p "$tmp/environments/$env"
		cat >"$tmp/environments/$env/metadata.json" <<JSON
{
  "services": [
    { "id": "test-service", "title": "Test Service", "dataSourceId": "test-postgis" }
  ],
  "layers": [
    {
      "id": "sample-points",
      "serviceId": "test-service",
      "title": "Sample Points",
      "description": "Points of interest ($env)",
      "geometryType": "Point",
      "srid": 4326,
      "storage": { "table": "public.sample_points", "geometryColumn": "geom", "primaryKey": "id" },
      "fields": [
        { "name": "id", "type": "integer" },
        { "name": "name", "type": "string", "alias": "Name" }
      ]
    }
  ]
}
JSON
		cat >"$tmp/environments/$env/datasources.json" <<JSON
{
  "dataSources": [
    {
      "id": "test-postgis",
      "provider": "postgis",
      "connection": { "host": "db-$env", "port": 5432, "database": "gis", "user": "honua", "passwordEnv": "PGPASSWORD" }
    }
  ]
}
JSON
	done
	cat >"$tmp/environments/common/shared-config.json" <<'JSON'
{ "cache": { "tileSeconds": 300 } }
JSON
	cat >"$tmp/.gitops/deployment-policy.yaml" <<'YAML'
apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  development:
    requireApproval: never
  staging:
    requireApproval: never
  production:
    requireApproval: always
    requiredApprovals: 1
    approvers: [devops-team]
    approvalTimeout: 24h
    autoRollback: true
    # Production rolls out in two waves: production-a first, as a canary
    # baking a minute (honuactl promote ends the bake), then production-b.
    rollout:
      waves:
        - { targets: [production-a], bake: 1m }
        - { targets: [production-b] }
YAML
	git init -q --bare --initial-branch=main "$repo"
	git -C "$tmp" init -q --initial-branch=main
	git -C "$tmp" -c user.name="Honua Sample" -c user.email=sample@honua.invalid add -A
	git -C "$tmp" -c user.name="Honua Sample" -c user.email=sample@honua.invalid commit -q -m "Sample configuration: development, staging, production"
	git -C "$tmp" push -q "$repo" main
	git clone -q "$repo" "$work"
	git -C "$work" config user.name "${GIT_AUTHOR_NAME:-Honua Sample}"
	git -C "$work" config user.email "${GIT_AUTHOR_EMAIL:-sample@honua.invalid}"
	echo "created the sample configuration repository in ${work#"$PWD"/}"
fi

if [[ ! -f "$dir/tokens.yaml" ]]; then
	honuad="$(cd "$(dirname "$0")/.." && pwd)/bin/honuad"
	echo "tokens:" >"$dir/tokens.yaml.tmp"
	for spec in "alice approver devops-team" "bob approver devops-team" "admin admin devops-team"; do
		read -r name role group <<<"$spec"
		out="$("$honuad" token create --name "$name" --role "$role" --group "$group")"
		sed -n 's/^token: //p' <<<"$out" >"$dir/$name.token"
		chmod 600 "$dir/$name.token"
		sed -n '/^  - name:/,$p' <<<"$out" >>"$dir/tokens.yaml.tmp"
	done
	mv "$dir/tokens.yaml.tmp" "$dir/tokens.yaml"
fi

# The token the nodes send the target agents, and the agents' tokens file.
if [[ ! -f "$dir/agents/tokens.yaml" ]]; then
	honuad="$(cd "$(dirname "$0")/.." && pwd)/bin/honuad"
	mkdir -p "$dir/agents"
	out="$("$honuad" token create --name honuad --role admin)"
	(umask 077 && sed -n 's/^token: //p' <<<"$out" >"$dir/agents/honuad.token")
	{ echo "tokens:"; sed -n '/^  - name:/,$p' <<<"$out"; } >"$dir/agents/tokens.yaml.tmp"
	mv "$dir/agents/tokens.yaml.tmp" "$dir/agents/tokens.yaml"
fi

# The secret that signs the notifications sent to make run's receiver.
if [[ ! -s "$dir/hook-secret" ]]; then
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/hook-secret")
fi

cat >"$dir/honuad.yaml" <<YAML
# Written by scripts/sample-repo.sh for make run.
auth:
  tokensFile: $dir/tokens.yaml
repository:
  url: $repo
  branch: main
  pollInterval: 5s
environments:
  development:
    targets:
      - type: directory
        path: $dir/targets/development
  # staging and production are served by Honua servers on other hosts, as
  # they would be: each has a target agent beside it (honuad target-agent,
  # started by run-cluster.sh on 127.0.0.1:7511-7513 with TLS), which the
  # nodes reach as an http target. See docs/targets.md.
  staging:
    targets:
      - type: http
        url: https://127.0.0.1:7511/v1/bundle
        tokenFile: $dir/agents/honuad.token
        caFile: $dir/tls/honua-ca.pem
  production:
    targets:
      - name: production-a
        type: http
        url: https://127.0.0.1:7512/v1/bundle
        tokenFile: $dir/agents/honuad.token
        caFile: $dir/tls/honua-ca.pem
      - name: production-b
        type: http
        url: https://127.0.0.1:7513/v1/bundle
        tokenFile: $dir/agents/honuad.token
        caFile: $dir/tls/honua-ca.pem
notifications:
  baseURL: https://127.0.0.1:7201/v1
  channels:
    # make run's receiver: honuactl notifications listen, logging to
    # $dir/notifications.log. See docs/notifications.md for Slack, Teams
    # and email.
    - { name: local-hook, type: webhook, url: "http://127.0.0.1:7500/", secretFile: $dir/hook-secret }
  routes:
    - events: [ApprovalRequired, Approved, Rejected, DeploymentCompleted, DeploymentFailed, RolledBack, RollbackFailed]
      channels: [local-hook]
YAML
