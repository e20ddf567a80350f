package origin

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are one origin's Prometheus collectors. Each Server has its own
// registry, so several origins can run in one process (tests, benchmarks).
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	conns        *prometheus.CounterVec
	openConns    *prometheus.GaugeVec
	refused      *prometheus.CounterVec
	bodyTimeouts *prometheus.CounterVec
	inFlight     *prometheus.GaugeVec
	connectBacks *prometheus.CounterVec
	rendezvous   *prometheus.CounterVec
	tracks       prometheus.Gauge
	libBytes     prometheus.Gauge
	skipped      prometheus.Gauge
	scanSeconds  prometheus.Gauge
}

func newMetrics(trackerPeers func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "potluck_origin_requests_total",
			Help: "API requests answered, by kind of request and HTTP status code.",
		}, []string{"kind", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "potluck_origin_bytes_served_total",
			Help: "Response body bytes sent, by kind of request.",
		}, []string{"kind"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "potluck_origin_connections_total",
			Help: "Client connections accepted, by transport (quic, tcp).",
		}, []string{"transport"}),
		openConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "potluck_origin_connections_open",
			Help: "Client connections open now, by transport (quic, tcp).",
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "potluck_origin_connections_refused_total",
			Help: "Connections closed as soon as accepted because a limit was reached, by transport (quic, tcp, metrics) and reason (per_address, total)."},
			[]string{"transport", "reason"}),
		bodyTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "potluck_origin_body_timeouts_total",
			Help: "Requests whose body was not sent within the body timeout, by transport (quic, tcp)."}, []string{"transport"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "potluck_origin_requests_in_flight",
			Help: "API requests being handled now, by transport (quic, tcp)."}, []string{"transport"}),
		connectBacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "potluck_origin_tracker_connect_backs_total",
			Help: "Announced addresses checked by connecting back, by result (ok, failed, busy)."}, []string{"result"}),
		rendezvous: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "potluck_origin_rendezvous_punches_total",
			Help: "Punch requests (POST /v1/punch), by result (ok, failed, busy, not_listed, refused)."}, []string{"result"}),
		tracks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "potluck_origin_tracks", Help: "Tracks in the catalogue.",
		}),
		libBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "potluck_origin_library_bytes", Help: "Total size of the catalogue's files.",
		}),
		skipped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "potluck_origin_skipped_files", Help: "MP3 files the last scan could not serve.",
		}),
		scanSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "potluck_origin_last_scan_seconds", Help: "How long the last library scan took.",
		}),
	}
	m.reg.MustRegister(m.requests, m.bytes, m.conns, m.openConns, m.refused, m.bodyTimeouts, m.inFlight, m.connectBacks, m.rendezvous, m.tracks, m.libBytes, m.skipped, m.scanSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "potluck_origin_tracker_peers", Help: "Peers listed by the tracker.",
		}, trackerPeers),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, r := range []string{reasonPerAddr, reasonTotal} {
		m.refused.WithLabelValues("metrics", r)
	}
	for _, r := range []string{"ok", "failed", "busy"} {
		m.connectBacks.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed", "busy", "not_listed", "refused"} {
		m.rendezvous.WithLabelValues(r)
	}
	for _, t := range []string{"quic", "tcp"} {
		m.conns.WithLabelValues(t)
		m.openConns.WithLabelValues(t)
		m.bodyTimeouts.WithLabelValues(t)
		m.inFlight.WithLabelValues(t)
		for _, r := range []string{reasonPerAddr, reasonTotal} {
			m.refused.WithLabelValues(t, r)
		}
	}
	return m
}

// connectBack counts a connect-back that dialled (remembered results are
// not counted) or was refused for being one too many.
func (m *metrics) connectBack(dialled bool, err error) {
	var le *LimitError
	switch {
	case errors.As(err, &le):
		m.connectBacks.WithLabelValues("busy").Inc()
	case !dialled:
	case err != nil:
		m.connectBacks.WithLabelValues("failed").Inc()
	default:
		m.connectBacks.WithLabelValues("ok").Inc()
	}
}

// handler serves /metrics and /healthz.
func (m *metrics) handler(healthy func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
