// Package sim implements Potluck's swarm benchmark: one origin and N
// listener nodes in one process, each a real swarm node with its own cache,
// identity and socket, speaking real QUIC over emulated residential links
// (github.com/marcopolo/simnet: per-endpoint bandwidth, per-packet delay and
// jitter, and a seeded packet loss of our own). Every listener plays a
// Zipf-distributed workload through the real player pipeline (swarm Stream,
// MP3 decoder, a paced null sink), skips and seeks now and then, and comes
// and goes (churn). Run measures start latency, stutter, where the bytes came
// from, origin egress, CPU and memory; the same workload runs again with
// peer-to-peer off (the client-server baseline) for side-by-side ratios.
//
// Run uses time.Now, timers and goroutines only, so the same simulation runs
// in real time (potluckd sim) or inside testing/synctest, where minutes of
// listening take seconds of wall time. Everything Run starts has ended when
// it returns.
//
// docs/benchmark.md explains the figures and holds the results.
package sim
