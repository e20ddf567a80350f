//go:build !unix

package origin

// fileLimit is unknown here; DefaultMaxConns applies.
func fileLimit() int { return 0 }
