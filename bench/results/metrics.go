package results

// Metric names. A run carries those its workload measures; CPU and memory
// metrics only where ferry processes ran (not for direct).
const (
	MetricMBps        = "mbps"         // bulk: MB/s through, all streams
	MetricRPS         = "rps"          // rr, http: requests completed per second
	MetricConnsPerSec = "conns_per_s"  // churn: connect-send-receive-close cycles per second
	MetricOffered     = "offered_rps"  // rr open loop: the rate asked for
	MetricErrors      = "errors"       // rr: requests that failed or went unanswered (at most 1%, or the run fails)
	MetricP50         = "p50_us"       // latency percentiles, µs
	MetricP90         = "p90_us"       //
	MetricP99         = "p99_us"       //
	MetricP999        = "p999_us"      //
	MetricMax         = "max_us"       //
	MetricCPU         = "cpu_s"        // ferry processes' CPU in the measured window, user+system
	MetricCPUUser     = "cpu_user_s"   //
	MetricCPUSys      = "cpu_sys_s"    //
	MetricServerCPU   = "server_cpu_s" // the server's (or forward's) share of cpu_s
	MetricClientCPU   = "client_cpu_s" // the client's share
	MetricCPUPerGB    = "cpu_s_per_gb"
	MetricCPUPer10k   = "cpu_s_per_10k" // per 10,000 requests or connections
	MetricServerRSS   = "server_peak_rss_kib"
	MetricClientRSS   = "client_peak_rss_kib"
	MetricIdleConns   = "idle_conns"          // idle: connections held
	MetricIdleBytes   = "idle_bytes_per_conn" // idle: RSS growth of the ferry processes per held connection
)

// Catalogue describes every metric, in display order; the harness writes it
// into every results.json.
var Catalogue = []Metric{
	{MetricMBps, "MB/s", Higher, "bytes through per second (10^6), all streams, checked by CRC-32C"},
	{MetricRPS, "req/s", Higher, "requests completed per second"},
	{MetricConnsPerSec, "conn/s", Higher, "new connections per second, each carrying one request and its response"},
	{MetricOffered, "req/s", Higher, "open loop: the request rate asked for"},
	{MetricErrors, "requests", Lower, "rr: requests that failed or were still unanswered 1 s after the period; over 1% fails the run"},
	{MetricP50, "µs", Lower, "median latency; open loop measured from the intended send time"},
	{MetricP90, "µs", Lower, "90th percentile latency"},
	{MetricP99, "µs", Lower, "99th percentile latency"},
	{MetricP999, "µs", Lower, "99.9th percentile latency"},
	{MetricMax, "µs", Lower, "highest latency seen"},
	{MetricCPU, "CPU-s", Lower, "CPU time of the ferry processes during the measured window, user plus system"},
	{MetricCPUUser, "CPU-s", Lower, "user-space share of cpu_s"},
	{MetricCPUSys, "CPU-s", Lower, "kernel share of cpu_s"},
	{MetricServerCPU, "CPU-s", Lower, "the server's (forward's) share of cpu_s"},
	{MetricClientCPU, "CPU-s", Lower, "the client's share of cpu_s"},
	{MetricCPUPerGB, "CPU-s/GB", Lower, "cpu_s per 10^9 bytes through"},
	{MetricCPUPer10k, "CPU-s/10k", Lower, "cpu_s per 10,000 requests or connections"},
	{MetricServerRSS, "KiB", Lower, "the server's (forward's) peak resident memory (VmHWM) since it started for this run"},
	{MetricClientRSS, "KiB", Lower, "the client's peak resident memory (VmHWM) since it started for this run"},
	{MetricIdleConns, "conns", Higher, "idle: tunneled connections held open at once"},
	{MetricIdleBytes, "B/conn", Lower, "idle: resident memory the ferry processes grew by, per held connection"},
}
