package server

import "github.com/rampart-dev/rampart/internal/runtime"

// addComposeDriver adds the docker compose driver.
func addComposeDriver(drivers map[runtime.Kind]runtime.Driver, logs func(runtime.LogLine)) {
}
