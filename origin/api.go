package origin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/potluckfm/potluck/track"
)

// APIVersion is the version of the HTTP API in docs/protocol.md.
const APIVersion = 2

// TrackInfo is a catalogue entry as the API lists it.
type TrackInfo struct {
	ID          track.ID `json:"id"`
	Title       string   `json:"title"`
	Artist      string   `json:"artist"`
	Album       string   `json:"album"`
	AlbumArtist string   `json:"album_artist,omitempty"`
	DiscNumber  int      `json:"disc_number,omitempty"`
	TrackNumber int      `json:"track_number,omitempty"`
	Year        int      `json:"year,omitempty"`
	Genre       string   `json:"genre,omitempty"`
	DurationMS  int64    `json:"duration_ms"`
	Size        int64    `json:"size"`
	Cover       bool     `json:"cover"`
	// CoverSHA256 is the hex SHA-256 of the cover image, when there is
	// one: a cover fetched from a peer is checked against it.
	CoverSHA256 string `json:"cover_sha256,omitempty"`
}

func trackInfo(m *track.Manifest) TrackInfo {
	return TrackInfo{
		ID: m.ID, Title: m.Title, Artist: m.Artist, Album: m.Album,
		AlbumArtist: m.AlbumArtist, DiscNumber: m.DiscNumber, TrackNumber: m.TrackNumber, Year: m.Year, Genre: m.Genre,
		DurationMS: m.Audio.DurationMS, Size: m.Size, Cover: m.Cover != "",
	}
}

// entryInfo is the catalogue entry of e: its manifest's fields and the
// hash of its cover.
func entryInfo(e *Entry) TrackInfo {
	t := trackInfo(e.Manifest)
	t.CoverSHA256 = e.coverSum
	return t
}

// Info is what GET /v1/info returns.
type Info struct {
	APIVersion int    `json:"api_version"`
	Key        string `json:"key"` // base64url Ed25519 public key
	Tracks     int    `json:"tracks"`
	TrackerTTL int    `json:"tracker_ttl_s"`
}

// AnnounceRequest is the body of POST /v1/tracker/announce. Since API v2
// the node signs it (Sign): Key, Time and Sig are required.
type AnnounceRequest struct {
	PeerID string     `json:"peer_id"`
	Addr   string     `json:"addr"`
	Tracks []track.ID `json:"tracks"`
	Key    string     `json:"key,omitempty"`     // base64url Ed25519 node key
	Time   int64      `json:"time_ms,omitempty"` // Unix milliseconds
	Sig    string     `json:"sig,omitempty"`     // base64url, over message()
	// SameSocket says the announce comes from the node's swarm socket, so
	// that over HTTP/3 the tracker lists the address it sees (a NAT's
	// mapping included) rather than Addr's port. It is not signed: either
	// way the tracker lists only the announcer's own IP.
	SameSocket bool `json:"same_socket,omitempty"`
	// Reach is how the node says others reach it (one of Reaches); the
	// tracker passes it on in its peer lists, so that a node dialling a
	// peer behind a NAT starts punching at once. Not signed: it is a
	// hint, and a wrong one costs only a punch or a wait.
	Reach string `json:"reach,omitempty"`
}

// Reaches are the values of AnnounceRequest.Reach and PeerInfo.Reach (a
// swarm node's reachability states); the tracker drops any other.
var Reaches = []string{"public", "port mapped", "reachable after punching", "not reachable"}

// AnnounceResponse tells a peer when to announce again.
type AnnounceResponse struct {
	TTL      int    `json:"ttl_s"`
	Interval int    `json:"interval_s"`
	Addr     string `json:"addr"` // the address the tracker lists for the peer
}

// PeersResponse is the body of GET /v1/tracker/peers.
type PeersResponse struct {
	Peers []PeerInfo `json:"peers"`
}

// Request kinds, the "kind" label of the metrics.
const (
	kindCatalog  = "catalog"
	kindManifest = "manifest"
	kindChunk    = "chunk"
	kindStart    = "start"
	kindCover    = "cover"
	kindTracker  = "tracker"
	kindInfo     = "info"
	kindOther    = "other"
)

const immutable = "public, max-age=31536000, immutable"

// handler builds the API. Every route is read-only but the announce.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, kind string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.wrap(kind, h))
	}
	route("GET /v1/info", kindInfo, s.getInfo)
	route("GET /v1/tracks", kindCatalog, s.getTracks)
	route("GET /v1/catalogue", kindCatalog, s.getCatalogue)
	route("GET /v1/tracks/{id}", kindCatalog, s.getTrack)
	route("GET /v1/tracks/{id}/manifest", kindManifest, s.getManifest)
	route("GET /v1/tracks/{id}/chunks/{n}", kindChunk, s.getChunk)
	route("GET /v1/tracks/{id}/start", kindStart, s.getStart)
	route("GET /v1/tracks/{id}/cover", kindCover, s.getCover)
	route("POST /v1/tracker/announce", kindTracker, s.postAnnounce)
	route("GET /v1/tracker/peers", kindTracker, s.getPeers)
	route("POST /v1/punch", kindTracker, s.postPunch)
	route("GET /healthz", kindOther, func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.WriteString(w, "ok\n")
		return err
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Refuse dot segments and doubled slashes outright rather than
		// redirect to a cleaned path: no request names a file anyway.
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			s.wrap(kindOther, func(http.ResponseWriter, *http.Request) error {
				return badRequest("malformed path")
			}).ServeHTTP(w, r)
			return
		}
		if h, pattern := mux.Handler(r); pattern == "" {
			// Unknown path (404) or method (405): the mux's own answer, counted.
			s.wrap(kindOther, func(w http.ResponseWriter, r *http.Request) error {
				h.ServeHTTP(w, r)
				return nil
			}).ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// httpError is an error with the status the client gets.
type httpError struct {
	code       int
	msg        string
	retryAfter time.Duration // sent as Retry-After when set
}

func (e httpError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return httpError{code: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// wrap turns a handler that returns an error into an http.Handler that
// answers errors with their status, counts requests and bytes by kind, and
// survives a panic in one request.
func (s *Server) wrap(kind string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &countingWriter{ResponseWriter: rw}
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if w.status == 0 {
					http.Error(w, "internal error", http.StatusInternalServerError)
				}
			}
			s.metrics.requests.WithLabelValues(kind, strconv.Itoa(w.statusOr200())).Inc()
			s.metrics.bytes.WithLabelValues(kind).Add(float64(w.bytes))
		}()
		if err := h(w, r); err != nil {
			var he httpError
			if !errors.As(err, &he) {
				s.log.Error("request failed", "path", r.URL.Path, "err", err)
				he = httpError{code: http.StatusInternalServerError, msg: "internal error"}
			}
			if w.status == 0 {
				if he.retryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(int((he.retryAfter+time.Second-1)/time.Second)))
				}
				http.Error(w, he.msg, he.code)
			}
		}
	})
}

type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer (Flush).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *countingWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

func (s *Server) getInfo(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, Info{
		APIVersion: APIVersion,
		Key:        base64.RawURLEncoding.EncodeToString(s.url.Key),
		Tracks:     s.Catalog().Len(),
		TrackerTTL: int(s.tracker.TTL().Seconds()),
	})
}

func (s *Server) getTracks(w http.ResponseWriter, r *http.Request) error {
	entries := s.Catalog().Search(r.URL.Query().Get("q"))
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("limit must be a non-negative integer")
		}
		entries = entries[:min(n, len(entries))]
	}
	out := make([]TrackInfo, 0, len(entries))
	for _, e := range entries {
		out = append(out, entryInfo(e))
	}
	return writeJSON(w, out)
}

// getCatalogue serves the signed catalogue built at the last scan; its
// ETag is its version, and If-None-Match naming it gets 304.
func (s *Server) getCatalogue(w http.ResponseWriter, r *http.Request) error {
	c := s.Catalog()
	etag := catalogueETag(c.CatalogueVersion())
	// It changes with a rescan: a cache may keep it, but must ask again.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(c.SignedCatalogue())
	return err
}

// entry resolves the {id} of a request. IDs only ever name catalogue
// entries, never paths, so no request can reach a file outside the library.
func (s *Server) entry(r *http.Request) (*Entry, error) {
	id, err := track.ParseID(r.PathValue("id"))
	if err != nil {
		return nil, badRequest("%v", err)
	}
	e := s.Catalog().Lookup(id)
	if e == nil {
		return nil, notFound("no track %s", id)
	}
	return e, nil
}

func (s *Server) getTrack(w http.ResponseWriter, r *http.Request) error {
	e, err := s.entry(r)
	if err != nil {
		return err
	}
	return writeJSON(w, entryInfo(e))
}

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request) error {
	e, err := s.entry(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", immutable)
	w.Header().Add("Vary", "Accept-Encoding")
	// A manifest's hex chunk hashes take about half the room compressed,
	// and it was compressed once at the scan: manifests warmed ahead of
	// a play (the rows in view, the queue) cost half as much.
	if e.signedGzip != nil && acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		_, err = w.Write(e.signedGzip)
		return err
	}
	_, err = w.Write(e.Signed)
	return err
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			for param := range strings.SplitSeq(params, ";") {
				name, value, _ := strings.Cut(param, "=")
				if strings.EqualFold(strings.TrimSpace(name), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
					return err == nil && f > 0
				}
			}
			return true
		}
	}
	return false
}

func (s *Server) getChunk(w http.ResponseWriter, r *http.Request) error {
	e, err := s.entry(r)
	if err != nil {
		return err
	}
	m := e.Manifest
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= m.NumChunks() || strconv.Itoa(n) != r.PathValue("n") {
		return notFound("track %s has chunks 0 to %d", m.ID, m.NumChunks()-1)
	}
	etag := `"` + m.ChunkHashes[n].String() + `"`
	w.Header().Set("Cache-Control", immutable)
	w.Header().Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	buf, err := s.readChunk(e, n)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	wrote, err := w.Write(buf)
	s.chunkBytes.Add(int64(wrote))
	return err
}

// readChunk reads chunk n from the library and checks it still matches the
// manifest: if the file changed after the scan, the origin says so rather
// than serve bytes its own signature disowns.
func (s *Server) readChunk(e *Entry, n int) ([]byte, error) {
	off, length := e.Manifest.ChunkBounds(n)
	f, err := s.library.Open(e.Path)
	if err != nil {
		return nil, s.changedFile(e, err)
	}
	defer f.Close()
	buf := make([]byte, length)
	if ra, ok := f.(io.ReaderAt); ok {
		_, err = ra.ReadAt(buf, off)
	} else if sk, ok := f.(io.Seeker); ok {
		if _, err = sk.Seek(off, io.SeekStart); err == nil {
			_, err = io.ReadFull(f, buf)
		}
	} else {
		err = errors.New("library file system cannot seek")
	}
	if err != nil {
		return nil, s.changedFile(e, err)
	}
	if err := e.Manifest.VerifyChunk(n, buf); err != nil {
		return nil, s.changedFile(e, err)
	}
	return buf, nil
}

func (s *Server) changedFile(e *Entry, err error) error {
	s.log.Warn("library file changed since the scan; send SIGHUP to rescan", "path", e.Path, "err", err)
	return httpError{code: http.StatusServiceUnavailable, msg: "track changed on the origin; try again after its rescan"}
}

func (s *Server) getCover(w http.ResponseWriter, r *http.Request) error {
	e, err := s.entry(r)
	if err != nil {
		return err
	}
	if len(e.Cover) == 0 {
		return notFound("track %s has no cover art", e.Manifest.ID)
	}
	w.Header().Set("Content-Type", e.Manifest.Cover)
	w.Header().Set("Cache-Control", immutable)
	_, err = w.Write(e.Cover)
	return err
}

func (s *Server) postAnnounce(w http.ResponseWriter, r *http.Request) error {
	src, err := sourceAddr(r)
	if err != nil {
		return err
	}
	if err := s.tracker.AllowAnnounce(src); err != nil {
		return s.trackerRefusal(err, src)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, announceBodyLimit(s.tracker.Limits())))
	if err != nil {
		return badRequest("announce: %v", err)
	}
	req, err := decodeAnnounce(body, s.url.Key, time.Now())
	if err != nil {
		return err
	}
	if err := checkTracks(req.Tracks); err != nil {
		return err
	}
	addr, err := s.listedAddr(r.Context(), r, req)
	if err != nil {
		return err
	}
	p := PeerInfo{ID: req.PeerID, Addr: addr.String()}
	if slices.Contains(Reaches, req.Reach) {
		p.Reach = req.Reach
	}
	// An announce older than the peer's last (two of its announces crossed,
	// or a replay) changes nothing: the newer one stands.
	if err := s.tracker.Announce(p, src, req.Time, req.Tracks); err != nil && !errors.Is(err, ErrStaleAnnounce) {
		return s.trackerRefusal(err, src)
	}
	s.log.Debug("announce", "peer", p.ID, "addr", p.Addr, "tracks", len(req.Tracks))
	ttl := int(s.tracker.TTL().Seconds())
	return writeJSON(w, AnnounceResponse{TTL: ttl, Interval: max(ttl/2, 1), Addr: addr.String()})
}

// trackerRefusal answers a tracker refusal and, for a limit, logs it the
// way every limit of the origin is logged (once a minute per address).
func (s *Server) trackerRefusal(err error, src netip.Addr) error {
	var le *LimitError
	if errors.As(err, &le) {
		s.bites.log("tracker: "+le.Reason, src.String(), "http")
	}
	return limitStatus(err)
}

// sourceAddr is the IP address a request came from: over HTTP/3 the
// source of the QUIC connection, over HTTPS that of the TCP connection.
func sourceAddr(r *http.Request) (netip.Addr, error) {
	ap, err := sourceAddrPort(r)
	return ap.Addr(), err
}

func sourceAddrPort(r *http.Request) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPort{}, httpError{code: http.StatusBadRequest, msg: "cannot tell the address the request came from"}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// listedAddr is the address the tracker lists for the node that sent req:
// the address the announce came from when the node says it dialled from
// its swarm socket over HTTP/3 (QUIC's handshake proved that packets reach
// it there, through any NAT); otherwise the announce's source IP with the
// announced port, once a connect-back proved that the key holder answers
// there. An announced host other than the source IP is refused, so nobody
// can list an address that is not their own.
func (s *Server) listedAddr(ctx context.Context, r *http.Request, req AnnounceRequest) (netip.AddrPort, error) {
	src, err := sourceAddrPort(r)
	if err != nil {
		return src, err
	}
	overQUIC := r.ProtoMajor == 3
	if req.SameSocket && overQUIC {
		return src, nil
	}
	ip, port, err := CheckAddr(req.Addr)
	if err != nil {
		return src, badRequest("announce: %v", err)
	}
	if ip.IsValid() && !ip.IsUnspecified() && ip != src.Addr() {
		return src, httpError{code: http.StatusForbidden, msg: fmt.Sprintf(
			"announce: addr host %s is not the address this announce came from (%s): the tracker lists only the announcer's own address; leave the host empty (\":%d\")", ip, src.Addr(), port)}
	}
	listed := netip.AddrPortFrom(src.Addr(), port)
	if (overQUIC && listed == src) || s.cfg.NoConnectBack {
		return listed, nil
	}
	key, _ := base64.RawURLEncoding.DecodeString(req.Key) // checked by decodeAnnounce
	dialled, err := s.connectBack.check(ctx, listed, key)
	s.metrics.connectBack(dialled, err)
	var le *LimitError
	switch {
	case errors.As(err, &le):
		s.bites.log("tracker: "+le.Reason, src.Addr().String(), "http")
		return listed, limitStatus(err)
	case err != nil:
		return listed, httpError{code: http.StatusForbidden, msg: fmt.Sprintf(
			"announce: %v; the tracker lists an address only where the node proves its key: announce over HTTP/3 from the node's swarm socket (same_socket), or make %s reachable from the origin", err, listed)}
	}
	return listed, nil
}

func (s *Server) getPeers(w http.ResponseWriter, r *http.Request) error {
	src, err := sourceAddr(r)
	if err != nil {
		return err
	}
	if err := s.tracker.AllowLookup(src); err != nil {
		return s.trackerRefusal(err, src)
	}
	q := r.URL.Query()
	id, err := track.ParseID(q.Get("track"))
	if err != nil {
		return badRequest("track: %v", err)
	}
	n := DefaultPeersPerAsk
	if v := q.Get("limit"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			return badRequest("limit must be a positive integer")
		}
	}
	peers := s.tracker.Peers(id, q.Get("peer"), n)
	if peers == nil {
		peers = []PeerInfo{}
	}
	return writeJSON(w, PeersResponse{Peers: peers})
}
