package main

import (
	"net"
	"net/http"
)

// listen opens the server's listener.
func (a *app) listen(*http.Server) (net.Listener, error) {
	return net.Listen("tcp", a.cfg.Server.Listen)
}
