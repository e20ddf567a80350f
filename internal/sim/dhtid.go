package sim

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	anacrolix "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
)

// dhtStateFile is where a swarm node keeps its DHT's ID and table, in its
// data directory (swarm's dhtStateFile).
const dhtStateFile = "dht.json"

// fitDHTID makes the DHT ID saved in a listener's data directory fit the
// address of its new session, as BEP 42 asks of a node on a public IP (the
// emulated addresses are public): other DHT nodes drop a node whose ID does
// not fit its IP from their tables and lookups. The swarm does not give its
// DHT the node's public IP (dht.Config.PublicIP), and keeps a saved ID, so
// the sim writes one that fits; the table saved beside it is kept.
func fitDHTID(dir string, addr net.Addr) error {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return nil
	}
	ip := u.IP.To4()
	if ip == nil {
		ip = u.IP
	}
	path := filepath.Join(dir, dhtStateFile)
	st := map[string]any{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st["version"] = 1
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
	}
	if s, ok := st["id"].(string); ok {
		if raw, err := hex.DecodeString(s); err == nil && len(raw) == 20 {
			var id krpc.ID
			copy(id[:], raw)
			if anacrolix.NodeIdSecure(id, ip) {
				return nil
			}
		}
	}
	id := krpc.RandomNodeID()
	anacrolix.SecureNodeId(&id, ip)
	st["id"] = hex.EncodeToString(id[:])
	if b, err = json.Marshal(st); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
