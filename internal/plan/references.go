package plan

import (
	"maps"
	"slices"
	"strings"
)

// rateReferences raises to critical, and breaking, the changes that leave
// head with a dangling reference (docs/domain.md#risk, "fails validation"):
//
//   - a service removed while a layer of head still names it, and a data
//     source removed while a service of head still names it (the reason lists
//     the service and the layers that reach the data source through it);
//   - otherwise, an added or modified layer naming a service head lacks, or
//     an added or modified service naming a data source head lacks.
//
// A reference that was already dangling in base, on resources this plan does
// not touch, has no change to rate; validation reports it.
func rateReferences(cs []Change, head *config) {
	find := func(kind, path string) *Change {
		for i := range cs {
			if cs[i].Kind == kind && cs[i].Path == path {
				return &cs[i]
			}
		}
		return nil
	}
	layersOf := referrers(head.layers, "serviceId")
	servicesOf := referrers(head.services, "dataSourceId")

	for _, sid := range slices.Sorted(maps.Keys(layersOf)) {
		if head.services.has(sid) {
			continue
		}
		layers := layersOf[sid]
		if c := find(KindService, "services/"+sid); c != nil && c.Action == ActionRemoved {
			critical(c, "removed while still used by "+list("layer", layers))
			continue
		}
		for _, l := range layers {
			if c := find(KindLayer, "layers/"+l); c != nil {
				critical(c, "references missing service "+sid)
			}
		}
	}

	for _, dsid := range slices.Sorted(maps.Keys(servicesOf)) {
		if head.dataSources.has(dsid) {
			continue
		}
		services := servicesOf[dsid]
		if c := find(KindDataSource, "dataSources/"+dsid); c != nil && c.Action == ActionRemoved {
			users := list("service", services)
			var layers []string
			for _, s := range services {
				layers = append(layers, layersOf[s]...)
			}
			slices.Sort(layers)
			if len(layers) > 0 {
				users += ", " + list("layer", layers)
			}
			critical(c, "removed while still used by "+users)
			continue
		}
		for _, s := range services {
			if c := find(KindService, "services/"+s); c != nil {
				critical(c, "references missing data source "+dsid)
			}
		}
	}
}

// referrers maps each id named by attr to the keys, sorted, of the
// resources of rs naming it: reordering a list changes no reason.
func referrers(rs resourceSet, attr string) map[string][]string {
	m := map[string][]string{}
	for _, k := range rs.keys {
		if id, ok := scalarKey(rs.items[k][attr]); ok {
			m[id] = append(m[id], k)
		}
	}
	for _, keys := range m {
		slices.Sort(keys)
	}
	return m
}

// critical raises a change to critical; a second reason is appended.
func critical(c *Change, reason string) {
	if c.Risk == RiskCritical {
		c.Reason += "; " + reason
	} else {
		c.Reason = reason
	}
	c.Risk, c.Breaking = RiskCritical, true
}

// list renders "layer a, layer b".
func list(noun string, keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = noun + " " + k
	}
	return strings.Join(parts, ", ")
}
