// Package compare is the third stage of pgrehearse: it puts the baseline
// cluster during the capture window next to the candidate cluster during
// the replay window. Cluster metrics come from sources in sub-packages
// (cloudwatch, pgsample, prometheus) behind the metrics.Source interface;
// query latency and errors come from the workload and the replay results.
package compare
