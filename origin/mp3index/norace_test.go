//go:build !race

package mp3index

const raceEnabled = false
