package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/track"
)

// nowPlaying is the bar under every screen: cover, title, transport
// buttons, a seek slider that follows playback, and volume.
type nowPlaying struct {
	u         *UI
	cover     *canvas.Image
	title     *widget.Label
	artist    *widget.Label
	playPause *widget.Button
	seek      *keySlider
	elapsed   *widget.Label
	remaining *widget.Label
	volume    *keySlider

	current  track.ID
	loading  bool
	duration float64 // seconds
	// setting is true while the code (not the listener) moves a slider.
	setting  bool
	dragging bool
}

func newNowPlaying(u *UI) *nowPlaying {
	p := &nowPlaying{u: u,
		cover:     canvas.NewImageFromResource(theme.MediaMusicIcon()),
		title:     widget.NewLabelWithStyle("Nothing playing", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		artist:    widget.NewLabel(""),
		elapsed:   widget.NewLabel("0:00"),
		remaining: widget.NewLabel("-0:00"),
	}
	p.cover.FillMode = canvas.ImageFillContain
	p.cover.SetMinSize(fyne.NewSquareSize(64))
	p.title.Truncation = fyne.TextTruncateEllipsis
	p.artist.Truncation = fyne.TextTruncateEllipsis
	p.playPause = widget.NewButtonWithIcon("", theme.MediaPlayIcon(), p.togglePause)
	p.seek = newKeySlider(u, 0, 1)
	p.seek.Step = 0.1
	p.seek.OnChanged = func(v float64) {
		if p.setting {
			return
		}
		p.dragging = true
		p.showTimes(v)
	}
	p.seek.OnChangeEnded = func(v float64) {
		if p.setting {
			return
		}
		p.dragging = false
		p.u.deps.Player.Seek(seconds(v))
	}
	p.volume = newKeySlider(u, 0, 1)
	p.volume.Step = 0.01
	p.volume.Value = 1
	p.volume.OnChanged = func(v float64) {
		if !p.setting {
			p.u.deps.Player.SetVolume(v)
		}
	}
	return p
}

func (p *nowPlaying) content() fyne.CanvasObject {
	prev := widget.NewButtonWithIcon("", theme.MediaSkipPreviousIcon(), func() { p.u.deps.Player.Previous() })
	next := widget.NewButtonWithIcon("", theme.MediaSkipNextIcon(), func() { p.u.deps.Player.Next() })
	buttons := container.NewHBox(prev, p.playPause, next)
	info := container.NewVBox(p.title, p.artist)
	seekRow := container.NewBorder(nil, nil, p.elapsed, p.remaining, p.seek)
	vol := container.NewBorder(nil, nil, widget.NewIcon(theme.VolumeUpIcon()), nil, p.volume)
	left := container.NewBorder(nil, nil, p.cover, nil, info)
	center := container.NewVBox(container.NewCenter(buttons), seekRow)
	return container.NewGridWithColumns(3, left, center, container.NewVBox(layoutSpacer(), vol))
}

func layoutSpacer() fyne.CanvasObject { return widget.NewLabel("") }

// togglePause pauses or resumes; with nothing loaded it plays the selected
// track, or the first of the library.
func (p *nowPlaying) togglePause() {
	if p.current.IsZero() {
		p.u.library.playSelected()
		return
	}
	p.u.deps.Player.TogglePause()
}

func (p *nowPlaying) render(st PlayerState) {
	if st.Current != p.current || st.Loading != p.loading {
		p.current, p.loading = st.Current, st.Loading
		if t, ok := p.u.info(st.Current); ok {
			p.title.SetText(t.Title)
			artist := t.Artist
			if st.Loading {
				artist = "Loading… " + artist
			}
			p.artist.SetText(artist)
			p.u.win.SetTitle(t.Title + " — " + Title)
		} else if st.Current.IsZero() {
			p.title.SetText("Nothing playing")
			p.artist.SetText("")
			p.u.win.SetTitle(Title)
		}
		p.coverChanged(st.Current)
	}
	if st.Playing {
		p.playPause.SetIcon(theme.MediaPauseIcon())
	} else {
		p.playPause.SetIcon(theme.MediaPlayIcon())
	}
	p.duration = st.Duration.Seconds()
	p.setting = true
	p.seek.Max = max(p.duration, 1)
	if !p.dragging {
		p.seek.SetValue(st.Position.Seconds())
		p.showTimes(st.Position.Seconds())
	}
	p.volume.SetValue(st.Volume)
	p.setting = false
}

func (p *nowPlaying) showTimes(pos float64) {
	p.elapsed.SetText(clock(seconds(pos)))
	p.remaining.SetText("-" + clock(seconds(p.duration-pos)))
}

func (p *nowPlaying) coverChanged(id track.ID) {
	if id != p.current {
		return
	}
	showCover(p.cover, p.u.cover(id))
}
