package nodeconf

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// removeStaleTemp removes the throwaway data directories of nodes that
// were killed before they could remove their own (their owner's PID is in
// the name and no longer runs), so that kill -9 does not leave a cache in
// the temporary directory for good.
func removeStaleTemp(log *slog.Logger) {
	for _, p := range StaleIn(os.TempDir(), func(name string) bool {
		rest, ok := strings.CutPrefix(name, TempPrefix)
		return ok && strings.Contains(rest, "-") // older names hold no PID: leave them
	}) {
		if err := os.RemoveAll(p); err != nil {
			log.Warn("cannot remove the data directory an earlier node left behind", "path", p, "err", err)
			continue
		}
		log.Info("removed the data directory an earlier node left behind", "path", p)
	}
}

// StaleIn lists the entries of dir that match and whose owner is gone:
// names of the form PREFIX-PID-RANDOM whose process PID no longer runs (a
// matching name without a PID has no owner left either).
func StaleIn(dir string, match func(name string) bool) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if match(e.Name()) && !ownerAlive(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// ownerAlive says whether the process whose PID a temporary name holds
// (".NAME.part-PID-RAND" or "potluck-node-PID-RAND") still runs.
func ownerAlive(name string) bool {
	i := strings.LastIndex(name, "-")
	if i < 0 {
		return false
	}
	pid, err := strconv.Atoi(name[strings.LastIndex(name[:i], "-")+1 : i])
	return err == nil && pid > 0 && processAlive(pid)
}
