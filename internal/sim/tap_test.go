package sim

import (
	"context"
	"crypto/ed25519"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

// stallingReader blocks once, for stall, when a read reaches at.
type stallingReader struct {
	io.ReadSeeker
	at    int64
	stall time.Duration
	once  sync.Once
	pos   int64
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.pos >= s.at {
		s.once.Do(func() { time.Sleep(s.stall) })
	}
	n, err := s.ReadSeeker.Read(p)
	s.pos += int64(n)
	return n, err
}

func (s *stallingReader) Seek(off int64, whence int) (int64, error) {
	n, err := s.ReadSeeker.Seek(off, whence)
	s.pos = n
	return n, err
}

// TestUnderrunTap checks that a stutter says when it happened: a real
// player, over a source that stalls for 2 s mid-track, runs its sink dry,
// and the listener's tap on the player's log keeps the underrun (track,
// time, position, how long dry) for the play's record.
func TestUnderrunTap(t *testing.T) {
	lib, err := catalogueFS(LiteLibrary(), 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	cat, err := origin.ScanLibrary(context.Background(), lib, key, origin.ScanOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := cat.Entries()[0]
	m := e.Manifest
	data, err := fs.ReadFile(lib, e.Path)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{}.withDefaults()
		r := &run{cfg: cfg, start: time.Now(), log: slog.New(slog.DiscardHandler)}
		l := &listener{r: r}
		opener := player.OpenFunc(func(ctx context.Context, _ track.ID) (player.Source, error) {
			return player.NewReaderSource(&stallingReader{ReadSeeker: bytesReader(data), at: m.Size / 2, stall: 2 * time.Second}, m), nil
		})
		ended := make(chan player.Event, 4)
		sink := player.Paced(player.Discard, 1, cfg.SinkBuffer)
		defer sink.Close()
		p, err := player.New(context.Background(), player.Config{
			Sink:   sink,
			Opener: opener,
			OnEvent: func(ev player.Event) {
				if ev.Kind == player.TrackEnded {
					ended <- ev
				}
			},
			Logger: slog.New(underrunTap{Handler: r.log.Handler(), l: l}),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetQueue([]track.ID{m.ID}, 0)
		ev := <-ended
		if ev.Stats.Underruns == 0 {
			t.Fatalf("no underrun: %+v", ev.Stats)
		}
		evs := l.takeUnderruns(m.ID)
		if len(evs) != ev.Stats.Underruns {
			t.Fatalf("%d underruns recorded, the player counted %d", len(evs), ev.Stats.Underruns)
		}
		u := evs[0]
		half := m.Duration() / 2
		if u.track != m.ID || u.pos < half-5*time.Second || u.pos > half+5*time.Second || u.dry <= 0 || u.at <= u.pos {
			t.Errorf("underrun %+v: want track %s, about %s into it, some time dry", u, m.ID, half)
		}
		rec := r.stutterRecord(PlayRecord{Track: m.ID, Kind: KindFirstInSwarm, Stats: ev.Stats, UnderrunEvents: evs})
		t.Log(rec)
		if !strings.Contains(rec, m.ID.String()) || !strings.Contains(rec, "not the network") {
			t.Errorf("record %q", rec)
		}
		if rest := l.takeUnderruns(m.ID); len(rest) != 0 {
			t.Errorf("underruns taken twice: %v", rest)
		}
	})
}
