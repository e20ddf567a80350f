package mp3index

import (
	"bytes"
	"encoding/binary"
)

// skipID3v2 returns the offset just past the ID3v2 tags (there may be
// several, or none) that start at off.
func (s *source) skipID3v2(off int64) (int64, error) {
	for {
		b, err := s.bytes(off, 10)
		if err != nil {
			return 0, err
		}
		if len(b) < 10 || string(b[:3]) != "ID3" || b[3] == 0xFF || b[4] == 0xFF ||
			(b[6]|b[7]|b[8]|b[9])&0x80 != 0 {
			return off, nil
		}
		n := int64(b[6])<<21 | int64(b[7])<<14 | int64(b[8])<<7 | int64(b[9])
		n += 10
		if b[5]&0x10 != 0 { // footer present
			n += 10
		}
		if off+n > s.size {
			// A size past the end of the file is corrupt: look for
			// the audio right after the tag's header instead.
			return off + 10, nil
		}
		off += n
	}
}

// trailingTags returns the offset where the tags at the end of the file
// start (ID3v1, Lyrics3v2, APEv2, in any order), or size if there are none.
// It never goes below start.
func (s *source) trailingTags(start int64) (int64, error) {
	end := s.size
	for range 8 { // each pass removes one tag; a few suffice
		prev := end
		// ID3v1: "TAG" and 125 bytes.
		if end-128 >= start {
			b, err := s.bytes(end-128, 3)
			if err != nil {
				return 0, err
			}
			if string(b) == "TAG" {
				end -= 128
			}
		}
		// Lyrics3v2: fields, then a 6-digit size and "LYRICS200".
		if end-15 >= start {
			b, err := s.bytes(end-15, 15)
			if err != nil {
				return 0, err
			}
			if string(b[6:]) == "LYRICS200" {
				if n, ok := digits(b[:6]); ok && end-15-n >= start {
					end -= 15 + n
				}
			}
		}
		// APEv2 (or v1): a 32-byte footer "APETAGEX" whose size covers
		// the items and the footer, plus a 32-byte header if flagged.
		if end-32 >= start {
			b, err := s.bytes(end-32, 32)
			if err != nil {
				return 0, err
			}
			if bytes.HasPrefix(b, []byte("APETAGEX")) {
				n := int64(binary.LittleEndian.Uint32(b[12:]))
				if binary.LittleEndian.Uint32(b[20:])&(1<<31) != 0 {
					n += 32
				}
				if n >= 32 && end-n >= start {
					end -= n
				}
			}
		}
		if end == prev {
			break
		}
	}
	return end, nil
}

func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// vbrHeader is what a Xing/Info or VBRI header frame says.
type vbrHeader struct {
	kind      string // "Xing", "Info" or "VBRI"
	frames    int64  // -1 if absent
	delay     int    // from a LAME tag
	padding   int
	lameValid bool
}

// parseVBRHeader looks for a Xing/Info or VBRI header in the frame b (whose
// header is h) and reports whether there is one.
func parseVBRHeader(h header, b []byte) (vbrHeader, bool) {
	if h.layer != layer3 {
		return vbrHeader{}, false
	}
	offs := []int{4 + h.sideInfoLen()}
	if h.crc {
		offs = append(offs, 6+h.sideInfoLen())
	}
	for _, x := range offs {
		if len(b) < x+8 {
			continue
		}
		tag := string(b[x : x+4])
		if tag != "Xing" && tag != "Info" {
			continue
		}
		v := vbrHeader{kind: tag, frames: -1}
		flags := binary.BigEndian.Uint32(b[x+4:])
		p := x + 8
		if flags&1 != 0 { // frames
			if len(b) >= p+4 {
				v.frames = int64(binary.BigEndian.Uint32(b[p:]))
			}
			p += 4
		}
		if flags&2 != 0 { // bytes
			p += 4
		}
		if flags&4 != 0 { // TOC
			p += 100
		}
		if flags&8 != 0 { // quality
			p += 4
		}
		// The LAME extension: a 9-byte encoder version, then at +21 the
		// 12-bit encoder delay and 12-bit padding.
		if len(b) >= p+24 {
			enc := b[p : p+4]
			switch string(enc) {
			case "LAME", "Lavf", "Lavc", "GOGO", "L3.9":
				d := b[p+21:]
				v.delay = int(d[0])<<4 | int(d[1])>>4
				v.padding = int(d[1]&0x0F)<<8 | int(d[2])
				v.lameValid = true
			}
		}
		return v, true
	}
	// VBRI: at 32 bytes after the header, whatever the mode.
	const x = 4 + 32
	if len(b) >= x+18 && string(b[x:x+4]) == "VBRI" {
		return vbrHeader{kind: "VBRI", frames: int64(binary.BigEndian.Uint32(b[x+14:]))}, true
	}
	return vbrHeader{}, false
}
