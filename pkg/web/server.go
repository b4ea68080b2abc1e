package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duometer/duometer/pkg/events"
)

// ServerOptions configure a Server. The timeouts and MaxHeaderBytes are those of
// net/http.Server; zero leaves net/http's default (none), so set them all.
type ServerOptions struct {
	// Listen is the host:port to listen on; port 0 picks a free one (see Server.Addr).
	Listen string
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound each request.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request header.
	MaxHeaderBytes int
	// CertFile and KeyFile, when both are set, make the server serve HTTPS only (TLS 1.2 or
	// later, HTTP/2 offered), with this PEM certificate chain and key. The files are read at
	// Start and again, for new connections, whenever they change on disk (checked at most
	// once a second): a renewed certificate needs no restart. A pair that does not load is
	// logged and the one before goes on serving.
	CertFile, KeyFile string
	// Self sets duometer.tls.cert-expiry{file} to the certificate's notAfter.
	Self *events.Self
	// Log receives the start-up lines and the server's own errors. Nil discards.
	Log *slog.Logger
}

// Server is duometer's HTTP server. Start listens and serves in a goroutine of its own;
// Shutdown stops it. A Server is started once.
type Server struct {
	opts ServerOptions
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// NewServer returns a server of h that has not started.
func NewServer(o ServerOptions, h http.Handler) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: o, done: make(chan error, 1), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
	}}
}

// Start listens (with TLS when configured: the certificate is loaded now, and a bad one is
// an error naming server.tls) and serves until Shutdown. Errors of serving afterwards arrive
// on Done.
func (s *Server) Start() error {
	ln, err := s.listen()
	if err != nil {
		return err
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.done <- err
		}
	}()
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Done delivers the error that ended serving before Shutdown (never http.ErrServerClosed).
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops accepting connections and waits for the requests in flight until ctx is
// done, then closes the connections that remain. It returns ctx's error if it had to close
// any.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}

func (s *Server) listen() (net.Listener, error) {
	o := s.opts
	if o.CertFile == "" || o.KeyFile == "" {
		return net.Listen("tcp", o.Listen)
	}
	certs := &certReloader{certFile: o.CertFile, keyFile: o.KeyFile, self: o.Self, log: o.Log}
	if err := certs.load(time.Now()); err != nil {
		return nil, err
	}
	s.srv.TLSConfig = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.get,
		// h2 in NextProtos makes http.Server.Serve answer HTTP/2 on the TLS listener.
		NextProtos: []string{"h2", "http/1.1"},
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, s.srv.TLSConfig), nil
}

// certReloader serves the certificate of a pair of files, loading it again when either
// file changes (modification time or size).
type certReloader struct {
	certFile, keyFile string
	self              *events.Self
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of the files the certificate was loaded from
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// certCheckEvery is how often a handshake may look at the files.
const certCheckEvery = time.Second

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certCheckEvery {
		c.checked = now
		if [2]fileStamp{stampOf(c.certFile), stampOf(c.keyFile)} != c.stamp {
			if err := c.loadLocked(now); err != nil {
				c.log.Warn("the server's TLS certificate changed on disk but does not load; serving the previous one", "err", err)
			}
		}
	}
	return c.cert, nil
}

func (c *certReloader) load(now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked(now)
}

// loadLocked loads the pair, sets duometer.tls.cert-expiry and logs what it serves. c.mu is
// held.
func (c *certReloader) loadLocked(now time.Time) error {
	stamp := [2]fileStamp{stampOf(c.certFile), stampOf(c.keyFile)}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.stamp = stamp // do not retry a bad pair until it changes again
		return fmt.Errorf("server.tls: %w", err)
	}
	leaf, err := leafOf(cert)
	if err != nil {
		c.stamp = stamp
		return fmt.Errorf("server.tls.cert-file %s: %w", c.certFile, err)
	}
	reloaded := c.cert != nil
	c.cert, c.stamp, c.checked = &cert, stamp, now
	if c.self != nil {
		c.self.CertExpiry.Emit(float64(leaf.NotAfter.Unix()), c.certFile)
	}
	log := c.log.With("cert-file", c.certFile, "subject", leaf.Subject.String(), "not-after", leaf.NotAfter.UTC().Format(time.RFC3339))
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		log.Warn("the server's TLS certificate has expired")
	case reloaded:
		log.Info("serving HTTPS with the certificate renewed on disk", "expires-in", left.Round(time.Hour).String())
	default:
		log.Info("serving HTTPS", "expires-in", left.Round(time.Hour).String())
	}
	return nil
}

// leafOf returns the certificate's leaf, the first of its chain.
func leafOf(cert tls.Certificate) (*x509.Certificate, error) {
	if cert.Leaf != nil {
		return cert.Leaf, nil
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(cert.Certificate[0])
}

// Swappable is an http.Handler whose handler can be replaced while it serves, so that a
// component rebuilt from a new configuration takes over its paths at once. With no handler
// set it answers 404. It is safe for concurrent use.
type Swappable struct{ h atomic.Pointer[http.Handler] }

// Set makes h serve from now on; nil makes the paths answer 404.
func (s *Swappable) Set(h http.Handler) {
	if h == nil {
		s.h.Store(nil)
		return
	}
	s.h.Store(&h)
}

// ServeHTTP implements http.Handler.
func (s *Swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}
