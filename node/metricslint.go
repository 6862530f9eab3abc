package node

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// lintedGatherer serves the families of a registry that pass promlint
// (what promtool check metrics runs), dropping the failing ones that other
// libraries register: go-libp2p names a counter without _total
// (libp2p_eventbus_subscriber_event_queued) and gauges with _total and
// _count. The node's own families (waterchain_*) are always served, so a
// mistake in them shows in TestMetricsPassPromlint instead of vanishing.
type lintedGatherer struct{ prometheus.Gatherer }

func (g lintedGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := g.Gatherer.Gather()
	if len(mfs) == 0 {
		return mfs, err
	}
	problems, lintErr := promlint.NewWithMetricFamilies(mfs).Lint()
	if lintErr != nil || len(problems) == 0 {
		return mfs, err
	}
	failing := make(map[string]bool, len(problems))
	for _, p := range problems {
		if !strings.HasPrefix(p.Metric, "waterchain_") {
			failing[p.Metric] = true
		}
	}
	kept := mfs[:0]
	for _, mf := range mfs {
		if !failing[mf.GetName()] {
			kept = append(kept, mf)
		}
	}
	return kept, err
}
