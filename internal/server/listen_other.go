//go:build !linux

package server

import "net"

// listenConfig is Go's default elsewhere: keep-alive set on each
// accepted connection.
func listenConfig() net.ListenConfig { return net.ListenConfig{} }
