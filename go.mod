module github.com/potluckfm/potluck

go 1.26.8

require (
	github.com/dhowden/tag v0.0.0-20240417053706-3d75831295e8 // indirect
	github.com/hajimehoshi/go-mp3 v0.3.4 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/quic-go/quic-go v0.65.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
