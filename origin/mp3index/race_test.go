//go:build race

package mp3index

// raceEnabled makes the slowest tests (decoding with go-mp3 from every
// frame) check a sample of the frames instead, under the race detector.
const raceEnabled = true
