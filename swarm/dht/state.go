package dht

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"

	anacrolix "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"

	"github.com/potluckfm/potluck/internal/atomicfile"
)

// maxSavedNodes bounds the state file.
const maxSavedNodes = 512

// state is the StateFile's content (JSON).
type state struct {
	Version int         `json:"version"`
	ID      string      `json:"id"` // hex
	Nodes   []savedNode `json:"nodes"`
}

type savedNode struct {
	ID   string `json:"id"` // hex
	Addr string `json:"addr"`
}

func loadState(path string) (state, error) {
	if path == "" {
		return state{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, err
	}
	if st.Version != 1 {
		return state{}, fmt.Errorf("unknown version %d", st.Version)
	}
	return st, nil
}

func parseID(s string) (krpc.ID, bool) {
	var id krpc.ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, !id.IsZero()
}

// nodes returns the saved nodes that parse, at most maxSavedNodes.
func (st state) nodes() []krpc.NodeInfo {
	var out []krpc.NodeInfo
	for _, n := range st.Nodes {
		id, ok := parseID(n.ID)
		ap, err := netip.ParseAddrPort(n.Addr)
		if !ok || err != nil || !validAddr(ap) {
			continue
		}
		var ni krpc.NodeInfo
		ni.ID = id
		ni.Addr.FromAddrPort(ap)
		out = append(out, ni)
		if len(out) == maxSavedNodes {
			break
		}
	}
	return out
}

func (st state) nodeAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, n := range st.nodes() {
		if a, ok := nodeAddrPort(n.Addr); ok {
			out = append(out, a)
		}
	}
	return out
}

// chooseID keeps the saved ID unless it does not fit publicIP (BEP 42),
// else makes a new one, fitted to publicIP when known.
func chooseID(saved string, publicIP netip.Addr) krpc.ID {
	if id, ok := parseID(saved); ok {
		if !publicIP.IsValid() || anacrolix.NodeIdSecure(id, publicIP.AsSlice()) {
			return id
		}
	}
	id := krpc.RandomNodeID()
	if publicIP.IsValid() {
		anacrolix.SecureNodeId(&id, publicIP.AsSlice())
	}
	return id
}

// save writes the ID and the table's non-bad nodes to the StateFile.
func (d *DHT) save() error {
	if d.cfg.StateFile == "" {
		return nil
	}
	st := state{Version: 1, ID: hex.EncodeToString(d.id[:])}
	for _, n := range d.srv.Nodes() {
		a, ok := nodeAddrPort(n.Addr)
		if !ok {
			continue
		}
		st.Nodes = append(st.Nodes, savedNode{ID: hex.EncodeToString(n.ID[:]), Addr: a.String()})
		if len(st.Nodes) == maxSavedNodes {
			break
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.cfg.StateFile, b)
}
