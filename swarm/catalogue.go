package swarm

// The catalogue through the swarm: the newest catalogue the origin signed
// that this node has seen, kept across restarts and served to peers, and
// the covers it has seen, so that the library survives the origin.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/potluckfm/potluck/internal/atomicfile"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// CatalogueOrigin is what Node.Catalogue and Node.Cover need of the origin
// besides Origin; *origin.Client implements it. A Config.Origin without it
// leaves the node to its peers and its own copies.
type CatalogueOrigin interface {
	// SignedCatalogueSince returns the origin's catalogue, verified
	// against the pinned key, and the signed envelope's bytes; or
	// origin.ErrCatalogueNotModified if it is version held.
	SignedCatalogueSince(ctx context.Context, held int64) (*origin.Catalogue, []byte, error)
	// Cover returns a track's cover image and its MIME type.
	Cover(ctx context.Context, id track.ID) ([]byte, string, error)
}

var _ CatalogueOrigin = (*origin.Client)(nil)

// Files of the data directory this file keeps.
const (
	catalogueFile = "catalogue.json"
	coversDir     = "covers"
)

// Bounds and timeouts of the catalogue and the covers.
const (
	// catalogueOriginWait bounds the origin's answer when the node holds
	// a catalogue, so a listener with the origin down sees it in seconds
	// (the origin then answers "not modified" in a few bytes, or sends a
	// new version); catalogueFirstWait, when it holds none and a big
	// catalogue may take a while over a slow link.
	catalogueOriginWait = 3 * time.Second
	catalogueFirstWait  = 8 * time.Second
	// cataloguePeerWait bounds one peer's answer (a catalogue can be
	// megabytes); cataloguePeersAsked bounds the peers asked at once.
	cataloguePeerWait   = 10 * time.Second
	cataloguePeersAsked = 8
	// catalogueDials is how many known peers are dialled for a
	// catalogue or a cover when none is connected.
	catalogueDials = 4
	// A node asks again on its own catalogueFirst after it started
	// keeping the catalogue, then every catalogueRefresh, so a headless
	// node holds a recent catalogue to pass on.
	catalogueFirst   = 30 * time.Second
	catalogueRefresh = 10 * time.Minute
	// The cover store keeps at most this many covers and bytes, the
	// oldest going first; a cover over maxStoredCover is not kept.
	maxStoredCovers      = 400
	maxStoredCoverBytes  = 32 << 20
	maxStoredCover       = 2 << 20
	coverWait            = 3 * time.Second
	coverPeersAskedAtMax = 4
	// originDownFor is how long Cover and the start of a play leave out
	// an origin that did not answer.
	originDownFor = 30 * time.Second
)

// Errors of Node.Catalogue and Node.Cover.
var (
	// ErrNoCatalogue means that neither the origin, nor a peer, nor the
	// data directory had a catalogue.
	ErrNoCatalogue = errors.New("no catalogue: the origin is unreachable, no peer has one, and none is kept")
	// ErrOlderCatalogue means a catalogue was older than the one held.
	ErrOlderCatalogue = errors.New("catalogue older than the one held")
	// ErrNoCover means the track has no cover art (the catalogue says so),
	// or no one reachable holds it.
	ErrNoCover = errors.New("no cover for this track")
)

// catalogueState is the node's copy of the origin's signed catalogue and
// its store of covers. Its own mutex guards it, never held with n.mu.
type catalogueState struct {
	mu   sync.Mutex
	env  []byte            // the signed envelope held, nil if none
	cat  *origin.Catalogue // env, opened
	info map[track.ID]origin.TrackInfo

	// originDown is until when Cover leaves the origin out: it did not
	// answer a moment ago, and a library's worth of covers should not
	// each wait for it.
	originDown time.Time

	covers coverStore
	loop   sync.Once // starts catalogueLoop
}

// initCatalogue loads the catalogue and the covers kept in the data
// directory. A kept catalogue that no longer verifies (another origin
// key, a damaged file) is ignored.
func (n *Node) initCatalogue() error {
	n.cat.covers.init(filepath.Join(n.cfg.DataDir, coversDir))
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, catalogueFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		n.log.Warn("kept catalogue unreadable; ignoring it", "err", err)
		return nil
	}
	cat, err := origin.OpenCatalogue(b, n.origin.URL().Key)
	if err != nil {
		n.log.Warn("kept catalogue does not verify with the origin key; ignoring it", "err", err)
		return nil
	}
	n.cat.set(cat, b)
	return nil
}

func (s *catalogueState) set(cat *origin.Catalogue, env []byte) {
	s.cat, s.env = cat, env
	s.info = make(map[track.ID]origin.TrackInfo, len(cat.Tracks))
	for _, t := range cat.Tracks {
		s.info[t.ID] = t
	}
}

// heldCatalogue is the signed envelope the node holds, nil if none.
func (n *Node) heldCatalogue() []byte {
	n.cat.mu.Lock()
	defer n.cat.mu.Unlock()
	return n.cat.env
}

// held is the catalogue the node holds, nil if none.
func (n *Node) held() *origin.Catalogue {
	n.cat.mu.Lock()
	defer n.cat.mu.Unlock()
	return n.cat.cat
}

// CatalogueVersion is the version of the catalogue the node holds, 0 if none.
func (n *Node) CatalogueVersion() int64 {
	if c := n.held(); c != nil {
		return c.Version
	}
	return 0
}

// adopt makes cat (env, opened and verified) the node's catalogue if it is
// newer than the one held, and keeps it in the data directory. It returns
// ErrOlderCatalogue for one older than the one held; one as old changes
// nothing and is no error.
func (n *Node) adopt(cat *origin.Catalogue, env []byte) error {
	n.cat.mu.Lock()
	defer n.cat.mu.Unlock()
	if old := n.cat.cat; old != nil {
		switch {
		case cat.Version < old.Version:
			return fmt.Errorf("%w: version %d, held %d", ErrOlderCatalogue, cat.Version, old.Version)
		case cat.Version == old.Version:
			return nil
		}
	}
	n.cat.set(cat, bytes.Clone(env))
	if err := atomicfile.Write(filepath.Join(n.cfg.DataDir, catalogueFile), n.cat.env); err != nil {
		n.log.Warn("catalogue not kept on disk", "err", err)
	}
	n.log.Debug("catalogue adopted", "version", cat.Version, "tracks", len(cat.Tracks))
	return nil
}

// Catalogue returns the origin's catalogue. It asks the origin first (for
// at most a few seconds) and reports online if it answered; the node then
// keeps that catalogue if it is newer than the one it holds. If the origin
// cannot be reached, it asks the connected peers (or, with none connected,
// a few known ones) for theirs and keeps the newest that the origin key
// signed; failing that it returns the catalogue held from before. It
// returns ErrNoCatalogue only when there is none at all. A peer that
// sends a catalogue the origin did not sign is banned; one older than the
// node's is not taken. It blocks on the network; ctx bounds it.
func (n *Node) Catalogue(ctx context.Context) (tracks []origin.TrackInfo, online bool, err error) {
	n.keepCatalogue()
	if tracks, err := n.catalogueFromOrigin(ctx); err == nil {
		return tracks, true, nil
	} else if ctx.Err() != nil {
		return nil, false, ctx.Err()
	} else {
		n.log.Debug("origin catalogue unavailable; asking peers", "err", err)
	}
	n.catalogueFromPeers(ctx)
	if c := n.held(); c != nil {
		return c.Tracks, false, nil
	}
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	return nil, false, ErrNoCatalogue
}

// catalogueFromOrigin asks the origin for its signed catalogue and adopts
// it. The origin is the authority: its answer is returned even when the
// node holds a newer version (an origin whose clock went back), which it
// keeps.
func (n *Node) catalogueFromOrigin(ctx context.Context) ([]origin.TrackInfo, error) {
	co, ok := n.origin.(CatalogueOrigin)
	if !ok {
		return nil, errors.New("the origin client cannot fetch a signed catalogue")
	}
	held := n.held()
	wait, version := catalogueFirstWait, int64(0)
	if held != nil {
		wait, version = catalogueOriginWait, held.Version
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cat, env, err := co.SignedCatalogueSince(ctx, version)
	if errors.Is(err, origin.ErrCatalogueNotModified) {
		n.noteOrigin(nil)
		return held.Tracks, nil
	}
	n.noteOrigin(err)
	if err != nil {
		var se *origin.StatusError
		if lister, ok := n.origin.(interface {
			Tracks(context.Context, string) ([]origin.TrackInfo, error)
		}); ok && errors.As(err, &se) && se.Code == 404 {
			// An origin from before the signed catalogue: list its
			// tracks, which there is no signature to keep.
			return lister.Tracks(ctx, "")
		}
		return nil, err
	}
	if err := n.adopt(cat, env); err != nil {
		n.log.Warn("the origin's catalogue is older than the one held; keeping that", "err", err)
	}
	return cat.Tracks, nil
}

// errOriginSilent is why the origin was left out: it did not answer a
// moment ago (noteOrigin).
var errOriginSilent = errors.New("did not answer a moment ago")

// noteOrigin records whether the origin answered a request (err is the
// request's error): Cover and the start of a play ask peers first for
// originDownFor after it did not.
func (n *Node) noteOrigin(err error) {
	var se *origin.StatusError
	down := err != nil && !errors.As(err, &se) && !errors.Is(err, context.Canceled)
	n.cat.mu.Lock()
	defer n.cat.mu.Unlock()
	if down {
		n.cat.originDown = time.Now().Add(originDownFor)
	} else {
		n.cat.originDown = time.Time{}
	}
}

// originSilent reports whether the origin did not answer a moment ago.
func (n *Node) originSilent() bool {
	n.cat.mu.Lock()
	defer n.cat.mu.Unlock()
	return time.Now().Before(n.cat.originDown)
}

// askable returns the peers to ask for a catalogue or a cover: the
// connected ones, else up to catalogueDials known ones, dialled now.
func (n *Node) askable(ctx context.Context) []*peerConn {
	if conns := n.connected(); len(conns) > 0 {
		return conns
	}
	var (
		mu  sync.Mutex
		out []*peerConn
		wg  sync.WaitGroup
	)
	known := n.knownPeers()
	for _, p := range known[:min(len(known), catalogueDials)] {
		wg.Go(func() {
			c, err := n.conn(ctx, p)
			if err != nil {
				n.log.Debug("known peer not reached", "peer", p.ID.Short(), "err", err)
				return
			}
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// catalogueFromPeers asks peers for their catalogues and adopts the
// newest that the origin signed.
func (n *Node) catalogueFromPeers(ctx context.Context) {
	conns := n.askable(ctx)
	conns = conns[:min(len(conns), cataloguePeersAsked)]
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, cataloguePeerWait)
			defer cancel()
			if err := n.catalogueFrom(cctx, c); err != nil {
				n.log.Debug("no catalogue from peer", "peer", c.id.Short(), "err", err)
			}
		})
	}
	wg.Wait()
}

// catalogueFrom asks c for its catalogue, verifies it and adopts it if it
// is newer than the one held. A catalogue the origin did not sign gets c
// banned, as a forged manifest does.
func (n *Node) catalogueFrom(ctx context.Context, c *peerConn) error {
	env, err := c.getBytes(ctx, request{typ: msgCatalogue}, maxCatalogueBytes)
	if err != nil {
		return err
	}
	cat, err := origin.OpenCatalogue(env, n.origin.URL().Key)
	if err != nil {
		if errors.Is(err, origin.ErrBadCatalogueSignature) || errors.Is(err, origin.ErrBadCatalogue) {
			n.ban(c.id, "sent a catalogue the origin did not sign")
		}
		return err
	}
	return n.adopt(cat, env)
}

// keepCatalogue starts, once, the loop that asks for the catalogue now and
// then: a node that nobody asks for it still holds one to pass on. It is
// started by the first use of the catalogue or the first request a peer
// sends, which come after Start has set the node up.
func (n *Node) keepCatalogue() {
	n.cat.loop.Do(func() { n.wg.Go(n.catalogueLoop) })
}

func (n *Node) catalogueLoop() {
	t := time.NewTimer(catalogueFirst)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(n.ctx, catalogueOriginWait+cataloguePeerWait+5*time.Second)
		if _, err := n.catalogueFromOrigin(ctx); err != nil && n.ctx.Err() == nil {
			n.catalogueFromPeers(ctx)
		}
		cancel()
		t.Reset(catalogueRefresh)
	}
}

// Cover returns a track's cover image: from the node's own store of
// covers, else the origin (the node keeps what it gets), else its peers,
// checked against the catalogue's cover_sha256 (a peer whose cover does
// not match is banned). Covers are immutable (a track's ID derives from
// its file, tags included), so the store is asked first. It returns
// ErrNoCover if the catalogue says the track has none or no one reachable
// holds it. It blocks on the network; ctx bounds it.
func (n *Node) Cover(ctx context.Context, id track.ID) ([]byte, error) {
	n.keepCatalogue()
	n.cat.mu.Lock()
	info, listed := n.cat.info[id]
	n.cat.mu.Unlock()
	originDown := n.originSilent()
	if img, ok := n.cat.covers.get(id); ok && (!listed || info.CoverSHA256 == "" || coverMatches(img, info.CoverSHA256)) {
		return img, nil
	}
	if listed && !info.Cover {
		return nil, ErrNoCover
	}
	originErr := errOriginSilent
	if co, ok := n.origin.(CatalogueOrigin); ok && !originDown {
		octx, cancel := context.WithTimeout(ctx, coverWait)
		img, _, err := co.Cover(octx, id)
		cancel()
		if ctx.Err() == nil {
			n.noteOrigin(err)
		}
		switch {
		case err == nil:
			n.cat.covers.put(id, img)
			return img, nil
		case errors.Is(err, origin.ErrNotFound):
			return nil, fmt.Errorf("%w: %w", ErrNoCover, err)
		}
		originErr = err
	}
	if !listed || info.CoverSHA256 == "" {
		// Nothing to check a peer's bytes against.
		return nil, fmt.Errorf("%w: origin: %v; the catalogue held gives no hash to check a peer's copy", ErrNoCover, originErr)
	}
	conns := n.askable(ctx)
	conns = conns[:min(len(conns), coverPeersAskedAtMax)]
	for _, c := range conns {
		cctx, cancel := context.WithTimeout(ctx, coverWait)
		img, err := c.getBytes(cctx, request{typ: msgCover, id: id}, maxCoverBytes)
		cancel()
		if err != nil {
			continue
		}
		if !coverMatches(img, info.CoverSHA256) {
			n.ban(c.id, "sent a cover that does not match the catalogue")
			continue
		}
		n.cat.covers.put(id, img)
		return img, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("%w: origin: %v, and no peer holds it", ErrNoCover, originErr)
}

func coverMatches(img []byte, sum string) bool {
	h := sha256.Sum256(img)
	return sum != "" && hex.EncodeToString(h[:]) == sum
}

// Playable reports whether the node can play id without the origin or a
// peer: its cache holds the track whole.
func (n *Node) Playable(id track.ID) bool {
	m, _, ok := n.store.Manifest(id)
	return ok && n.store.Have(id).Count() == m.NumChunks()
}

// coverStore keeps covers in a directory, one file per track ID, at most
// maxStoredCovers files and maxStoredCoverBytes bytes; the oldest go
// first. What it holds was checked before it was put (it came from the
// origin, or matched the catalogue's hash).
type coverStore struct {
	mu    sync.Mutex
	dir   string
	files map[track.ID]coverFile
	bytes int64
}

type coverFile struct {
	size int64
	at   time.Time
}

// init lists the covers kept in dir.
func (s *coverStore) init(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir, s.files = dir, map[track.ID]coverFile{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		id, err := track.ParseID(e.Name())
		fi, ierr := e.Info()
		if err != nil || ierr != nil || !fi.Mode().IsRegular() {
			continue // a temporary file of an interrupted write, or a stranger
		}
		s.files[id] = coverFile{size: fi.Size(), at: fi.ModTime()}
		s.bytes += fi.Size()
	}
	s.evictLocked(0, 0)
}

// get returns the cover of id, if the store holds it.
func (s *coverStore) get(id track.ID) ([]byte, bool) {
	s.mu.Lock()
	_, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(s.dir, id.String()))
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}

// put keeps img as the cover of id, making room by evicting the oldest.
func (s *coverStore) put(id track.ID, img []byte) {
	size := int64(len(img))
	if size == 0 || size > maxStoredCover {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[id]; ok || s.dir == "" {
		return
	}
	s.evictLocked(1, size)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return
	}
	if err := atomicfile.Write(filepath.Join(s.dir, id.String()), img); err != nil {
		return
	}
	s.files[id] = coverFile{size: size, at: time.Now()}
	s.bytes += size
}

// evictLocked removes the oldest covers until files more covers of bytes
// more bytes fit.
func (s *coverStore) evictLocked(files int, bytes int64) {
	fits := func() bool {
		return len(s.files)+files <= maxStoredCovers && s.bytes+bytes <= maxStoredCoverBytes
	}
	if fits() {
		return
	}
	ids := make([]track.ID, 0, len(s.files))
	for id := range s.files {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b track.ID) int {
		return cmp.Or(s.files[a].at.Compare(s.files[b].at), slices.Compare(a[:], b[:]))
	})
	for _, id := range ids {
		if fits() {
			return
		}
		os.Remove(filepath.Join(s.dir, id.String()))
		s.bytes -= s.files[id].size
		delete(s.files, id)
	}
}
