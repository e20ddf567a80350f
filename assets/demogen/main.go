// Command demogen synthesizes Potluck's demo music library — six short
// original tracks with cover art — and the application icon. Everything is
// made from scratch here: no samples, no third-party material.
//
// Usage, from the repository root:
//
//	go run ./assets/demogen -out assets/demo
//
// It writes assets/demo/NN-slug.mp3 and assets/icon.png. The songs are
// composed from fixed seeds (chord progressions, melodies written by a
// small rule-based melody writer, bass lines and drum grids), played by
// synthesized instruments (FM electric piano, vibraphone and bells,
// Karplus–Strong plucked strings, analogue-style pads, basses and leads, a
// breathy flute, and a drum kit of pitched decays and shaped noise), mixed
// with reverb and echo, then limited and encoded with Debian's lame, which
// also writes the ID3v2 tags and embeds each cover.
//
// The PCM is deterministic: rerunning on the same architecture gives the
// same samples, and with the same lame version the same MP3 bytes.
//
// Flags:
//
//	-out DIR    where to write the MP3s (default assets/demo)
//	-icon PATH  where to write the 256×256 app icon; empty skips it
//	            (default assets/icon.png)
//	-track N    build only track N (default: all)
//	-keep       keep the intermediate WAV and cover PNG files
//
// lame must be installed: sudo apt-get install lame.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// encoding is how a track is encoded.
type encoding struct {
	rate int  // output sample rate in Hz; the song is rendered at this rate
	kbps int  // constant bitrate; 0 selects VBR
	vbr  int  // lame -V quality (0 best … 9 smallest), when kbps is 0
	mono bool // one channel
}

// lameArgs are the encoder options for lame.
func (e encoding) lameArgs() []string {
	args := []string{"--resample", strconv.FormatFloat(float64(e.rate)/1000, 'f', -1, 64)}
	if e.mono {
		args = append(args, "-m", "m")
	} else {
		args = append(args, "-m", "j")
	}
	if e.kbps > 0 {
		return append(args, "--cbr", "-b", strconv.Itoa(e.kbps))
	}
	return append(args, "-V", strconv.Itoa(e.vbr))
}

func (e encoding) String() string {
	mode := fmt.Sprintf("CBR %d kbps", e.kbps)
	if e.kbps == 0 {
		mode = fmt.Sprintf("VBR -V %d", e.vbr)
	}
	ch := "stereo"
	if e.mono {
		ch = "mono"
	}
	return fmt.Sprintf("%s, %s, %g kHz", mode, ch, float64(e.rate)/1000)
}

func main() {
	out := flag.String("out", "assets/demo", "directory to write the MP3s to")
	icon := flag.String("icon", "assets/icon.png", "path to write the app icon to (empty: skip)")
	only := flag.Int("track", 0, "build only this track number (0: all)")
	keep := flag.Bool("keep", false, "keep the intermediate WAV and cover PNG files")
	flag.Parse()
	if err := run(*out, *icon, *only, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demogen:", err)
		os.Exit(1)
	}
}

func run(out, icon string, only int, keep bool) error {
	lame, err := exec.LookPath("lame")
	if err != nil {
		return errors.New("the lame MP3 encoder was not found in PATH; install it with `sudo apt-get install lame` and run again")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "demogen-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("intermediate files in", work)
	} else {
		defer os.RemoveAll(work)
	}

	if icon != "" {
		if err := writePNG(icon, drawIcon(256)); err != nil {
			return err
		}
		fmt.Println("wrote", icon)
	}

	start := time.Now()
	reports := make([]string, len(songs))
	errs := make([]error, len(songs))
	slots := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, s := range songs {
		if only != 0 && only != i+1 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			reports[i], errs[i] = build(s, i+1, len(songs), lame, work, out)
		}()
	}
	wg.Wait()
	for i := range songs {
		if errs[i] != nil {
			return fmt.Errorf("track %d: %w", i+1, errs[i])
		}
		if reports[i] != "" {
			fmt.Println(reports[i])
		}
	}
	fmt.Printf("done in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// build composes, renders, encodes and tags one song and returns a line
// describing the result.
func build(s *song, num, total int, lame, work, out string) (string, error) {
	a := newArranger(s)
	s.arrange(a)
	mix := render(a)

	wav := filepath.Join(work, s.slug+".wav")
	if err := writeWAV(wav, mix, s.enc.rate, s.enc.mono, s.seed); err != nil {
		return "", err
	}
	cover := filepath.Join(work, s.slug+".png")
	if err := writePNG(cover, drawCover(s, num)); err != nil {
		return "", err
	}
	mp3 := filepath.Join(out, fmt.Sprintf("%02d-%s.mp3", num, s.slug))
	args := append(s.enc.lameArgs(),
		"--quiet", "--add-id3v2",
		"--tt", s.title,
		"--ta", s.artist,
		"--tl", album,
		"--ty", strconv.Itoa(year),
		"--tn", fmt.Sprintf("%d/%d", num, total),
		"--tg", s.genre,
		"--tc", "Potluck demo, CC0 1.0",
		"--tv", "TPE2="+albumArtist,
		"--ti", cover,
		wav, mp3)
	if msg, err := exec.Command(lame, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("lame: %v: %s", err, msg)
	}
	if err := markFrontCover(mp3); err != nil {
		return "", err
	}
	info, err := os.Stat(mp3)
	if err != nil {
		return "", err
	}
	seconds := float64(len(mix[0])) / float64(s.enc.rate)
	return fmt.Sprintf("%-30s %5.1fs %4d KB  %s", mp3, seconds, info.Size()/1024, s.enc), nil
}

// markFrontCover sets the picture type of the embedded cover to 3, "Cover
// (front)". lame always writes 0, "Other", which some players skip.
func markFrontCover(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < 10 || string(b[:3]) != "ID3" {
		return fmt.Errorf("%s: no ID3v2 tag", path)
	}
	version := b[3]
	end := 10 + syncsafe(b[6:10])
	for pos := 10; pos+10 <= end && b[pos] != 0; {
		size := int(binary.BigEndian.Uint32(b[pos+4:]))
		if version == 4 {
			size = syncsafe(b[pos+4 : pos+8])
		}
		if string(b[pos:pos+4]) == "APIC" {
			// body: text encoding, MIME type, NUL, picture type, …
			body := b[pos+10 : pos+10+size]
			mimeEnd := bytes.IndexByte(body[1:], 0)
			if mimeEnd < 0 {
				break
			}
			body[1+mimeEnd+1] = 3
			return os.WriteFile(path, b, 0o644)
		}
		pos += 10 + size
	}
	return fmt.Errorf("%s: no APIC frame", path)
}

// syncsafe decodes a 28-bit ID3v2 "syncsafe" integer.
func syncsafe(b []byte) int {
	return int(b[0])<<21 | int(b[1])<<14 | int(b[2])<<7 | int(b[3])
}

// render mixes all of a song's events and masters the result at the
// song's output sample rate.
func render(a *arranger) stereo {
	sr := float64(a.s.enc.rate)
	m := newMixer(sr, a.spb, preroll, int(a.duration()*sr))
	for _, e := range a.events {
		m.add(e)
	}
	o := a.s.master
	o.mono = a.s.enc.mono
	o.targetRMS, o.ceiling, o.fadeOut = 0.16, 0.89, 1.5
	o.crackleSeed = a.s.seed
	return m.master(o)
}
