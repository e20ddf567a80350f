// Package app is Potluck's desktop UI, built with Fyne. It renders state
// and forwards the listener's intent; it does no networking, decoding or
// disk work itself. It drives the player and the swarm node through the
// small interfaces in backend.go, polls their state a few times a second
// off the UI goroutine, and updates widgets through fyne.Do.
//
// The package does not import fyne.io/fyne/v2/app (the GLFW driver), so
// its tests run headless with fyne's test driver and without cgo.
package app
