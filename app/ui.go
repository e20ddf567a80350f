package app

import (
	"context"
	"image"
	"log/slog"
	"reflect"
	"slices"
	"strings"
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

// started is about when the process started (this package's
// initialisation): "library shown" says how long after it the library was.
var started = time.Now()

// How often the UI reads the player and the swarm.
const (
	refreshPlaying = 250 * time.Millisecond
	refreshIdle    = time.Second
)

// Deps are the UI's backends. Catalog and Player are required; the others
// may be nil, and what needs them is then left out.
type Deps struct {
	Catalog  Catalog
	Player   Player
	Swarm    Swarm
	Settings *SettingsStore
	// Playlists keeps playlists and likes.
	Playlists *PlaylistStore
	// Offline pins tracks for offline play.
	Offline Offline
	// Notice, if not empty, is shown at start (e.g. "no audio device").
	Notice string
	// Observe, if set, is called with every player state the UI renders
	// (MPRIS follows the player this way). It runs off the UI goroutine.
	Observe func(PlayerState)
	// Notify, if set, shows a desktop notification; the UI calls it off
	// the UI goroutine, on a track change, when Settings ask for it.
	Notify func(title, body string)
	// Location, if set, says where a track can be found outside Potluck
	// (a file path or URL) for exported playlists.
	Location func(track.ID) string
}

// UI is the Potluck window. Create it with New, show it with Window().ShowAndRun
// or Show, and call Start to begin loading the catalogue and following the
// player. Its widgets are touched only on the Fyne goroutine.
type UI struct {
	deps Deps
	win  fyne.Window

	library   *libraryView
	albums    *albumsView
	artists   *artistsView
	playlists *playlistsView
	playing   *nowPlaying
	queue     *queueView
	swarm     *swarmView
	settings  *settingsView
	tabs      *container.AppTabs
	status    *widget.Label

	mu         sync.Mutex
	lastPlayer PlayerState
	lastSwarm  SwarmStatus
	lastPins   []PinProgress
	model      *Model
	// covers holds each cover loaded, as a thumbnail; nil for one that
	// is not an image.
	covers map[track.ID]image.Image
	// hidden is true while the window is closed and the node serves on.
	hidden bool
	// notified is the last track a notification was considered for.
	notified track.ID
	// closedOnce is true once the window was closed to the background.
	closedOnce bool
	// offline is true while the origin does not answer and the catalogue
	// shown is a kept copy (see OfflineCatalog).
	offline bool
	// warm fetches ahead what the tracks in view need to start.
	warm *rowWarmer

	cancel context.CancelFunc // of Start's goroutines
	wg     sync.WaitGroup
}

// New builds the window and its screens.
func New(a fyne.App, deps Deps) *UI {
	u := &UI{deps: deps, covers: map[track.ID]image.Image{}, warm: newRowWarmer(deps.Player)}
	u.win = a.NewWindow(Title)
	u.status = widget.NewLabel(deps.Notice)
	u.status.Wrapping = fyne.TextWrapWord
	u.library = newLibraryView(u)
	u.albums = newAlbumsView(u)
	u.artists = newArtistsView(u)
	u.playlists = newPlaylistsView(u)
	u.playing = newNowPlaying(u)
	u.queue = newQueueView(u)
	u.swarm = newSwarmView(u)
	u.settings = newSettingsView(u)
	u.tabs = container.NewAppTabs(
		container.NewTabItem("Library", u.library.content()),
		container.NewTabItem("Albums", u.albums.content()),
		container.NewTabItem("Artists", u.artists.content()),
		container.NewTabItem("Playlists", u.playlists.content()),
		container.NewTabItem("Queue", u.queue.content()),
		container.NewTabItem("Swarm", u.swarm.content()),
		container.NewTabItem("Settings", u.settings.content()),
	)
	u.win.SetContent(container.NewBorder(nil, container.NewVBox(u.status, u.playing.content()), nil, nil, u.tabs))
	u.win.Resize(fyne.NewSize(960, 640))
	u.win.SetCloseIntercept(u.closeWindow)
	u.bindKeys()
	return u
}

// Window is the UI's window.
func (u *UI) Window() fyne.Window { return u.win }

// closeWindow is what the window's close button does: hide the window and
// keep serving the swarm if the listener chose so in Settings (the
// default), else quit.
func (u *UI) closeWindow() {
	if u.deps.Settings != nil && u.deps.Settings.Get().ServesInBackground() {
		u.mu.Lock()
		u.hidden = true
		first := !u.closedOnce
		u.closedOnce = true
		u.mu.Unlock()
		slog.Info("window closed; serving in the background")
		if first && u.deps.Notify != nil {
			// Once a run: where the desktop has no tray, this is how the
			// listener learns that Potluck is still there.
			go u.deps.Notify("Potluck is still running",
				"It keeps playing and serving the swarm. Start Potluck again to bring the window back, or quit from its tray icon.")
		}
		u.win.Hide()
		u.swarm.render(u.swarmStatus())
		return
	}
	u.Quit()
}

// ShowWindow brings the window back (the tray, a second start, MPRIS
// Raise). Call it on the Fyne goroutine.
func (u *UI) ShowWindow() {
	u.mu.Lock()
	u.hidden = false
	u.mu.Unlock()
	u.win.Show()
	u.win.RequestFocus()
	slog.Info("window shown")
}

// Hidden reports whether the window is closed while the node serves on.
func (u *UI) Hidden() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hidden
}

// TrayMenu is the system tray's menu: show the window, play or pause,
// next, quit.
func (u *UI) TrayMenu() *fyne.Menu {
	return fyne.NewMenu(Title,
		fyne.NewMenuItem("Show Potluck", u.ShowWindow),
		fyne.NewMenuItem("Play / Pause", u.playing.togglePause),
		fyne.NewMenuItem("Next", func() { u.deps.Player.Next() }),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Quit", u.Quit),
	)
}

// Start loads the catalogue and follows the player and the swarm until
// Stop. As everywhere in Potluck, ctx lends its values and bounds only the
// call. The work runs on goroutines; results reach
// widgets through fyne.Do.
func (u *UI) Start(ctx context.Context) {
	ctx, u.cancel = context.WithCancel(context.WithoutCancel(ctx))
	u.wg.Go(func() {
		u.loadCatalog(ctx)
		u.followCatalog(ctx)
	})
	u.wg.Go(func() {
		// Four times a second while music plays (the clock and the seek
		// slider move); once a second otherwise, so an idle app idles.
		t := time.NewTimer(refreshPlaying)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			u.refresh()
			if u.playerState().Playing {
				t.Reset(refreshPlaying)
			} else {
				t.Reset(refreshIdle)
			}
		}
	})
}

// Stop ends what Start started and waits for it. Safe to call more than
// once, and from the Fyne goroutine (its goroutines never wait for it).
func (u *UI) Stop() {
	if u.cancel != nil {
		u.cancel()
	}
	u.warm.stop()
	u.wg.Wait()
}

// Quit stops the UI's goroutines, then the app. fyne deadlocks if a
// fyne.Do arrives as its loop ends (its event queue then waits for a main
// loop that is gone), so nothing of ours may still be sending one.
func (u *UI) Quit() {
	go func() {
		u.Stop()
		fyne.Do(fyne.CurrentApp().Quit)
	}()
}

// playerState is the player's state as last rendered.
func (u *UI) playerState() PlayerState {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastPlayer
}

// catalogue is the catalogue's model, nil until it has loaded.
func (u *UI) catalogue() *Model {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.model
}

func (u *UI) swarmStatus() SwarmStatus {
	var sw SwarmStatus
	if u.deps.Swarm != nil {
		sw = u.deps.Swarm.Status()
	}
	sw.Background = u.Hidden()
	return sw
}

// refresh reads the backends' state and renders it. Safe from any goroutine.
func (u *UI) refresh() {
	st := u.deps.Player.State()
	if u.deps.Observe != nil {
		u.deps.Observe(st)
	}
	sw := u.swarmStatus()
	var pins []PinProgress
	if u.deps.Offline != nil {
		pins = u.deps.Offline.Progress()
	}
	// Redraw only what changed: an idle window should cost nothing.
	u.mu.Lock()
	prev := u.lastPlayer
	samePlayer, sameSwarm := reflect.DeepEqual(st, u.lastPlayer), reflect.DeepEqual(sw, u.lastSwarm)
	samePins := reflect.DeepEqual(pins, u.lastPins)
	u.lastPlayer, u.lastSwarm, u.lastPins = st, sw, pins
	info, known := u.infoLocked(st.Current)
	notify := st.Playing && !st.Loading && known && st.Current != u.notified
	if notify {
		u.notified = st.Current
	}
	u.mu.Unlock()
	if samePlayer && sameSwarm && samePins {
		return
	}
	trackChanged := st.Current != prev.Current || st.Playing != prev.Playing
	if st.Current != prev.Current && !st.Current.IsZero() {
		// The rest of its album is a likely next play, queued or not.
		if m := u.catalogue(); m != nil {
			if alb := m.AlbumOf(st.Current); alb != nil {
				u.warm.warmNow(trackIDs(alb.Tracks))
			}
		}
	}
	// The status line changes only with the error: other messages (the
	// catalogue retrying, a like not saved) stay until then.
	errChanged := errText(st.Err) != errText(prev.Err) || st.ErrTrack != prev.ErrTrack
	if notify && u.deps.Notify != nil && u.deps.Settings != nil && u.deps.Settings.Get().NotifyTrackChange {
		go u.deps.Notify(info.Title, trackDetail(info))
	}
	fyne.Do(func() {
		if !samePlayer {
			u.playing.render(st)
			u.queue.render(st)
			if errChanged {
				u.status.SetText(u.statusText(st))
			}
			if trackChanged {
				u.markPlaying()
			}
		}
		if !sameSwarm {
			u.swarm.render(sw)
		}
		if !samePins {
			u.albums.pinsChanged()
			u.playlists.pinsChanged()
			u.swarm.renderPins(pins)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// statusText is the line above the player: the last error, in words a
// listener understands, while it holds; else the start-up notice, and
// that the origin is unreachable while it is.
func (u *UI) statusText(st PlayerState) string {
	if st.Err == nil {
		if u.isOffline() {
			return strings.TrimSpace(u.deps.Notice + " " + offlineText)
		}
		return u.deps.Notice
	}
	name := "a track"
	if t, ok := u.info(st.ErrTrack); ok {
		name = "“" + t.Title + "”"
	}
	return "Could not play " + name + ": " + st.Err.Error()
}

// markPlaying redraws the lists that mark the playing track.
func (u *UI) markPlaying() {
	u.library.tracks.list.Refresh()
	u.albums.refreshTracks()
	u.playlists.refreshTracks()
}

// How often the UI asks for the catalogue again when the Catalog is an
// OfflineCatalog: soon while the origin is unreachable, so that all comes
// back on its own when it returns; rarely while it answers (a rescan may
// have added tracks).
const (
	catalogOfflineRetry = 30 * time.Second
	catalogRefresh      = 10 * time.Minute
)

// offlineText is the status line while the origin is unreachable.
const offlineText = "The origin is unreachable: showing the last catalogue this app saw. " +
	"Dimmed tracks are not held here and play only if another listener has them. Trying the origin again every 30 s."

// fetchCatalog asks the Catalog for the tracks, and whether the origin
// answered (always, for a Catalog that is not an OfflineCatalog).
func (u *UI) fetchCatalog(ctx context.Context) ([]origin.TrackInfo, bool, error) {
	if oc, ok := u.deps.Catalog.(OfflineCatalog); ok {
		return oc.Catalogue(ctx)
	}
	tracks, err := u.deps.Catalog.Tracks(ctx)
	return tracks, true, err
}

// loadCatalog loads the catalogue, retrying until it has one, shows it,
// then loads the covers.
func (u *UI) loadCatalog(ctx context.Context) {
	fyne.Do(func() { u.status.SetText("Loading the catalogue…") })
	var tracks []origin.TrackInfo
	var online bool
	var err error
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		tracks, online, err = u.fetchCatalog(cctx)
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
	u.showCatalog(tracks, online)
	u.loadCovers(ctx, tracks)
}

// showCatalog renders tracks in every view, and says whether the origin
// answered.
func (u *UI) showCatalog(tracks []origin.TrackInfo, online bool) {
	model := BuildModel(tracks)
	u.mu.Lock()
	u.model = model
	u.offline = !online
	u.mu.Unlock()
	fyne.Do(func() {
		u.status.SetText(u.statusText(u.playerState()))
		u.library.setTracks(tracks)
		u.albums.setModel(model)
		u.artists.setModel(model)
		u.playlists.reload()
		slog.Info("library shown", "tracks", len(tracks), "albums", len(model.Albums()), "artists", len(model.Artists()), "origin_reachable", online,
			"since_start", time.Since(started).Round(time.Millisecond))
	})
	// What was rendered before the catalogue came (a restored session's
	// track) had no names: render it again with them.
	u.mu.Lock()
	u.lastPlayer = PlayerState{Index: -2}
	u.mu.Unlock()
	fyne.Do(func() { u.playing.current = track.ID{} })
	u.refresh()
}

// loadCovers loads the covers of tracks not loaded yet.
func (u *UI) loadCovers(ctx context.Context, tracks []origin.TrackInfo) {
	for _, t := range tracks {
		if ctx.Err() != nil {
			return
		}
		if t.Cover && !u.coverLoaded(t.ID) {
			u.loadCover(ctx, t.ID)
		}
	}
}

// followCatalog asks an OfflineCatalog for the catalogue again now and
// then, after loadCatalog: every catalogOfflineRetry while the origin is
// unreachable, catalogRefresh while it answers. A changed catalogue is
// shown again; a change of the origin's reachability changes the status
// line and the dimmed tracks.
func (u *UI) followCatalog(ctx context.Context) {
	if _, ok := u.deps.Catalog.(OfflineCatalog); !ok {
		return
	}
	for {
		wait := catalogRefresh
		if u.isOffline() {
			wait = catalogOfflineRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		tracks, online, err := u.fetchCatalog(cctx)
		cancel()
		if err != nil {
			continue
		}
		u.catalogFetched(tracks, online)
		u.loadCovers(ctx, tracks)
	}
}

// catalogFetched shows a catalogue fetched again: all of it if it
// changed, else only whether the origin answered.
func (u *UI) catalogFetched(tracks []origin.TrackInfo, online bool) {
	u.mu.Lock()
	same := u.model != nil && slices.Equal(u.model.Tracks(), tracks)
	wasOffline := u.offline
	u.offline = !online
	u.mu.Unlock()
	switch {
	case !same:
		u.showCatalog(tracks, online)
	case wasOffline == online:
		slog.Info("origin reachability changed", "reachable", online)
		fyne.Do(func() {
			u.status.SetText(u.statusText(u.playerState()))
			u.markPlaying() // dims or undims the tracks
		})
	}
}

// isOffline reports whether the origin was unreachable at the last look.
func (u *UI) isOffline() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.offline
}

// playableNow reports whether id can be played as things are: always while
// the origin answers; with it down, if the cache holds it whole (others
// play only if a peer holds them).
func (u *UI) playableNow(id track.ID) bool {
	oc, ok := u.deps.Catalog.(OfflineCatalog)
	if !ok || !u.isOffline() {
		return true
	}
	return oc.Playable(id)
}

// loadCover fetches a cover off the UI goroutine, decodes it once at the
// size the UI draws it (thumbnail; the file's bytes are not kept), and
// shows it where needed.
func (u *UI) loadCover(ctx context.Context, id track.ID) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := u.deps.Catalog.Cover(cctx, id)
	if err != nil {
		return
	}
	img, err := thumbnail(b)
	if err != nil {
		slog.Debug("cover not shown", "track", id, "err", err)
	}
	u.mu.Lock()
	u.covers[id] = img
	u.mu.Unlock()
	fyne.Do(func() {
		u.library.tracks.list.Refresh()
		u.albums.coverLoaded()
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
	return u.infoLocked(id)
}

func (u *UI) infoLocked(id track.ID) (origin.TrackInfo, bool) {
	if u.model == nil {
		return origin.TrackInfo{}, false
	}
	return u.model.Track(id)
}

// cover returns the cover of id, if loaded.
func (u *UI) cover(id track.ID) image.Image {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.covers[id]
}

// coverLoaded reports whether the cover of id was loaded (whether or not
// it turned out to be an image).
func (u *UI) coverLoaded(id track.ID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.covers[id]
	return ok
}
