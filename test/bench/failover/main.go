// Command failover measures how long a three-node honuad cluster takes to
// elect a new leader after its leader is killed, for each raft profile, and
// how steady a profile's leadership stays under write load:
//
//	go run ./test/bench/failover                      # 20 kills each of default and lan
//	go run ./test/bench/failover -raft-profile lan -kills 0 -soak 10m
//
// Each kill round waits for a stable leader with all three members alive,
// kills the leader with SIGKILL, and times until a survivor's /v1/status
// names another leader (polling every 10ms); then it restarts the killed
// node and waits until it follows again. Each transfer round does the same
// with SIGTERM, on which the leader hands its leadership to a follower
// before it leaves. It prints each figure, the median and the maximum
// against the goal, with the profile's heartbeat timeout as the reference.
//
// With -soak, it starts a cluster of the (last) profile with a
// configuration repository, writes through every node from 16 clients for
// the duration (suspending and resuming environments: each a raft write),
// and counts the leader changes: the rise of the raft term on every node
// (each election raises it) and of honua_raft_leader_changes_total.
//
// With -nice, the soak's nodes run at that niceness: on a machine shared
// with other work, -10 lets them run as on cores of their own, which the
// lan profile assumes.
//
// With -node-args, every node gets more flags, such as explicit raft
// timeouts; the timeouts each node logs at start are then the reference.
//
// With -tls the nodes run with TLS on: a new leader's first contact with
// each follower then includes a TLS handshake.
package main

import (
	"flag"
	"log"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
)

const waitTimeout = 60 * time.Second

func main() {
	kills := flag.Int("kills", 20, "how many times to kill the leader, for each profile")
	transfers := flag.Int("transfers", 5, "how many times to stop the leader with SIGTERM (leadership transfer), for each profile")
	profiles := flag.String("raft-profile", cluster.ProfileDefault+","+cluster.ProfileLAN, "the --raft-profile of the nodes; a comma-separated list measures each in turn")
	soak := flag.Duration("soak", 0, "after the kills, run a cluster of the last profile under write load for this long and count its leader changes (0: no soak)")
	clients := flag.Int("clients", 16, "concurrent writers during the soak, spread over the three nodes")
	withTLS := flag.Bool("tls", false, "run the nodes with TLS: API over https, raft over mutual TLS")
	keep := flag.Bool("keep", false, "keep the nodes' data dirs and logs")
	niceness := flag.Int("nice", 0, "during the soak, run the nodes at this niceness (-10: ahead of the other work of a shared machine, as on dedicated cores; needs root)")
	nodeArgs := flag.String("node-args", "", "more flags for every node, space-separated (e.g. \"--raft-leader-lease-timeout=240ms\"); the figures then have no goal")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	names := strings.Split(*profiles, ",")
	for _, p := range names {
		if _, ok := cluster.RaftProfiles[p]; !ok {
			log.Fatalf("-raft-profile: unknown profile %q", p)
		}
	}

	r := benchrun.New("failover", *keep)
	defer r.Finish()

	for _, p := range names {
		if *kills == 0 && *transfers == 0 {
			break
		}
		res := measureFailover(r, p, strings.Fields(*nodeArgs), *kills, *transfers, *withTLS)
		res.report(r)
	}
	if *soak > 0 {
		res := runSoak(r, names[len(names)-1], strings.Fields(*nodeArgs), *soak, *clients, *niceness, *withTLS)
		res.report(r)
	}
}
