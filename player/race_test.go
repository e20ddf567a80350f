//go:build race

package player

// raceEnabled shortens the tests that decode much audio: go-mp3 decodes
// about 3x faster than real time under the race detector (27x without).
const raceEnabled = true
