package app

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// Title is the window title.
const Title = "Potluck"

// Deps are the UI's backends.
type Deps struct {
	Catalog  Catalog
	Player   Player
	Swarm    Swarm
	Settings *SettingsStore
	// Notice, if not empty, is shown at start (e.g. "no audio device").
	Notice string
	// Observe, if set, is called with every player state the UI renders
	// (MPRIS follows the player this way). It runs off the UI goroutine.
	Observe func(PlayerState)
}

// UI is the Potluck window. Create it with New, show it with Window().ShowAndRun
// or Show, and call Start to begin loading the catalogue and following the
// player. Its widgets are touched only on the Fyne goroutine.
type UI struct {
	deps Deps
	win  fyne.Window

	library  *libraryView
	playing  *nowPlaying
	queue    *queueView
	swarm    *swarmView
	settings *settingsView
	tabs     *container.AppTabs
	status   *widget.Label

	mu         sync.Mutex
	lastPlayer PlayerState
	lastSwarm  SwarmStatus
	tracks     map[track.ID]origin.TrackInfo
	covers     map[track.ID]fyne.Resource
}

// New builds the window and its screens.
func New(a fyne.App, deps Deps) *UI {
	u := &UI{deps: deps, tracks: map[track.ID]origin.TrackInfo{}, covers: map[track.ID]fyne.Resource{}}
	u.win = a.NewWindow(Title)
	u.status = widget.NewLabel(deps.Notice)
	u.status.Wrapping = fyne.TextWrapWord
	u.library = newLibraryView(u)
	u.playing = newNowPlaying(u)
	u.queue = newQueueView(u)
	u.swarm = newSwarmView(u)
	u.settings = newSettingsView(u)
	u.tabs = container.NewAppTabs(
		container.NewTabItem("Library", u.library.content()),
		container.NewTabItem("Queue", u.queue.content()),
		container.NewTabItem("Swarm", u.swarm.content()),
		container.NewTabItem("Settings", u.settings.content()),
	)
	u.win.SetContent(container.NewBorder(nil, container.NewVBox(u.status, u.playing.content()), nil, nil, u.tabs))
	u.win.Resize(fyne.NewSize(960, 640))
	u.bindKeys()
	return u
}

// Window is the UI's window.
func (u *UI) Window() fyne.Window { return u.win }

// Start loads the catalogue and follows the player and the swarm until ctx
// ends. The work runs on goroutines; results reach widgets through fyne.Do.
func (u *UI) Start(ctx context.Context) {
	go u.loadCatalog(ctx)
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			u.refresh()
		}
	}()
}

// refresh reads the backends' state and renders it. Safe from any goroutine.
func (u *UI) refresh() {
	st := u.deps.Player.State()
	if u.deps.Observe != nil {
		u.deps.Observe(st)
	}
	var sw SwarmStatus
	if u.deps.Swarm != nil {
		sw = u.deps.Swarm.Status()
	}
	// Redraw only what changed: an idle window should cost nothing.
	u.mu.Lock()
	samePlayer, sameSwarm := reflect.DeepEqual(st, u.lastPlayer), reflect.DeepEqual(sw, u.lastSwarm)
	u.lastPlayer, u.lastSwarm = st, sw
	u.mu.Unlock()
	if samePlayer && sameSwarm {
		return
	}
	fyne.Do(func() {
		if !samePlayer {
			u.playing.render(st)
			u.queue.render(st)
			if st.Err != nil {
				u.status.SetText(st.Err.Error())
			}
		}
		if !sameSwarm {
			u.swarm.render(sw)
		}
	})
}

func (u *UI) loadCatalog(ctx context.Context) {
	fyne.Do(func() { u.status.SetText("Loading the catalogue…") })
	var tracks []origin.TrackInfo
	var err error
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		tracks, err = u.deps.Catalog.Tracks(cctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		fyne.Do(func() { u.status.SetText("Cannot reach the origin: " + err.Error() + " (retrying)") })
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*2*time.Second, 30*time.Second)):
		}
	}
	if err != nil {
		return
	}
	u.mu.Lock()
	for _, t := range tracks {
		u.tracks[t.ID] = t
	}
	u.mu.Unlock()
	fyne.Do(func() {
		u.status.SetText(u.deps.Notice)
		u.library.setTracks(tracks)
		slog.Info("library shown", "tracks", len(tracks))
	})
	for _, t := range tracks {
		if t.Cover {
			u.loadCover(ctx, t.ID)
		}
	}
}

// loadCover fetches a cover off the UI goroutine and shows it where needed.
func (u *UI) loadCover(ctx context.Context, id track.ID) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := u.deps.Catalog.Cover(cctx, id)
	if err != nil {
		return
	}
	res := fyne.NewStaticResource("cover-"+id.String(), b)
	u.mu.Lock()
	u.covers[id] = res
	u.mu.Unlock()
	fyne.Do(func() {
		u.library.list.Refresh()
		u.playing.coverChanged(id)
	})
}

// Observe makes f receive every player state the UI renders, like
// Deps.Observe. Call it before Start.
func (u *UI) Observe(f func(PlayerState)) { u.deps.Observe = f }

// Describe returns the title, artist and album of id, if the catalogue has
// loaded it (what MPRIS shows). Safe from any goroutine.
func (u *UI) Describe(id track.ID) (title, artist, album string, ok bool) {
	t, ok := u.info(id)
	return t.Title, t.Artist, t.Album, ok
}

// info returns what the catalogue says of id.
func (u *UI) info(id track.ID) (origin.TrackInfo, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.tracks[id]
	return t, ok
}

// cover returns the cover of id, if loaded.
func (u *UI) cover(id track.ID) fyne.Resource {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.covers[id]
}
