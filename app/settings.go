package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/atomicfile"
	"github.com/potluckfm/potluck/origin"
)

// Settings are what the listener can change; they are kept across restarts.
type Settings struct {
	// OriginURL is the origin to join; empty means the built-in demo origin.
	OriginURL string `json:"origin_url"`
	// CacheSize is the cache limit, e.g. "2GiB"; empty means the default.
	CacheSize string `json:"cache_size"`
	// UploadLimit caps upload bandwidth, e.g. "1MB" a second; empty means none.
	UploadLimit string `json:"upload_limit"`
	// ListenPort is the UDP port of the peer protocol; 0 picks one.
	ListenPort int `json:"listen_port"`
	// Bootstrap lists HOST:PORT addresses of Potluck nodes to join the
	// DHT through, beside the origin's peers and the saved table.
	Bootstrap []string `json:"bootstrap,omitempty"`
	// BackgroundServing, when not false, keeps the node serving the swarm
	// after the window is closed (quit from the tray). Unset means on.
	BackgroundServing *bool `json:"background_serving,omitempty"`
	// NotifyTrackChange shows a desktop notification when a track starts.
	NotifyTrackChange bool `json:"notify_track_change,omitempty"`
}

// ServesInBackground reports whether closing the window keeps the node
// serving (the default).
func (s Settings) ServesInBackground() bool {
	return s.BackgroundServing == nil || *s.BackgroundServing
}

// Validate checks every field and says what is wrong with the first bad one.
func (s Settings) Validate() error {
	if s.OriginURL != "" {
		if _, err := origin.ParseURL(s.OriginURL); err != nil {
			return err
		}
	}
	if s.CacheSize != "" {
		if _, err := cache.ParseSize(s.CacheSize); err != nil {
			return fmt.Errorf("cache size: %w", err)
		}
	}
	if s.UploadLimit != "" {
		if _, err := cache.ParseSize(s.UploadLimit); err != nil {
			return fmt.Errorf("upload limit: %w", err)
		}
	}
	if s.ListenPort < 0 || s.ListenPort > 65535 {
		return fmt.Errorf("listen port %d: want 0 to 65535", s.ListenPort)
	}
	for _, hp := range s.Bootstrap {
		_, port, err := net.SplitHostPort(hp)
		if p, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || p == 0 {
			return fmt.Errorf("bootstrap node %q: want HOST:PORT", hp)
		}
	}
	return nil
}

// SettingsStore keeps Settings in a JSON file. Safe for concurrent use.
type SettingsStore struct {
	path string
	mu   sync.Mutex
	s    Settings
}

// OpenSettings reads the settings file at path; a missing file means defaults.
func OpenSettings(path string) (*SettingsStore, error) {
	st := &SettingsStore{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &st.s); err != nil {
		return nil, fmt.Errorf("settings %s: %w", path, err)
	}
	return st, nil
}

// Get returns the current settings.
func (st *SettingsStore) Get() Settings {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

// Save validates s and writes it, atomically.
func (st *SettingsStore) Save(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := atomicfile.Write(st.path, b); err != nil {
		return err
	}
	st.s = s
	return nil
}

// settingsView edits the settings; they take effect at the next start.
type settingsView struct {
	u          *UI
	origin     *widget.Entry
	cache      *widget.Entry
	upload     *widget.Entry
	port       *widget.Entry
	bootstrap  *widget.Entry
	background *keyCheck
	notify     *keyCheck
	result     *widget.Label
}

func newSettingsView(u *UI) *settingsView {
	v := &settingsView{u: u, origin: widget.NewEntry(), cache: widget.NewEntry(),
		upload: widget.NewEntry(), port: widget.NewEntry(), bootstrap: widget.NewEntry(), result: widget.NewLabel("")}
	v.origin.SetPlaceHolder("empty: the built-in demo origin")
	v.cache.SetPlaceHolder("e.g. 2GiB (empty: 10% of free disk, at most 10 GiB)")
	v.upload.SetPlaceHolder("bytes a second, e.g. 500KB (empty: no limit)")
	v.port.SetPlaceHolder("0: any free port")
	v.bootstrap.SetPlaceHolder("HOST:PORT of other nodes, separated by spaces (optional)")
	v.result.Wrapping = fyne.TextWrapWord
	v.background = newKeyCheck(u, "Keep serving the swarm when the window is closed", nil)
	v.notify = newKeyCheck(u, "Show a notification when a track starts", nil)
	v.background.SetChecked(true)
	if u.deps.Settings != nil {
		s := u.deps.Settings.Get()
		v.origin.SetText(s.OriginURL)
		v.cache.SetText(s.CacheSize)
		v.upload.SetText(s.UploadLimit)
		v.port.SetText(strconv.Itoa(s.ListenPort))
		v.bootstrap.SetText(strings.Join(s.Bootstrap, " "))
		v.background.SetChecked(s.ServesInBackground())
		v.notify.SetChecked(s.NotifyTrackChange)
	}
	return v
}

func (v *settingsView) content() fyne.CanvasObject {
	form := widget.NewForm(
		widget.NewFormItem("Origin URL", v.origin),
		widget.NewFormItem("Cache size", v.cache),
		widget.NewFormItem("Upload limit", v.upload),
		widget.NewFormItem("Listen port", v.port),
		widget.NewFormItem("DHT bootstrap", v.bootstrap),
		widget.NewFormItem("Window", v.background),
		widget.NewFormItem("Notifications", v.notify),
	)
	form.SubmitText = "Save"
	form.OnSubmit = v.save
	return container.NewVBox(form, v.result)
}

func (v *settingsView) save() {
	if v.u.deps.Settings == nil {
		return
	}
	port, err := strconv.Atoi(v.port.Text)
	if v.port.Text == "" {
		port, err = 0, nil
	}
	if err != nil {
		v.result.SetText("Listen port: not a number")
		return
	}
	background := v.background.Checked
	s := Settings{OriginURL: v.origin.Text, CacheSize: v.cache.Text, UploadLimit: v.upload.Text, ListenPort: port,
		Bootstrap: strings.Fields(strings.ReplaceAll(v.bootstrap.Text, ",", " ")), BackgroundServing: &background, NotifyTrackChange: v.notify.Checked}
	if err := v.u.deps.Settings.Save(s); err != nil {
		v.result.SetText("Not saved: " + err.Error())
		return
	}
	v.result.SetText("Saved. The window and notification settings apply now; the others the next time Potluck starts.")
}
