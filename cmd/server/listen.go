package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// listen opens the server's listener: plain TCP, or TLS when server.tls names a certificate
// and its key. With TLS it also sets duometer.tls.cert-expiry{file} to the certificate's
// notAfter. The certificate is read once, at start: replacing the files takes a restart.
func (a *app) listen(srv *http.Server) (net.Listener, error) {
	t := a.cfg.Server.TLS
	if !t.Enabled() {
		return net.Listen("tcp", a.cfg.Server.Listen)
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	leaf, err := leafOf(cert)
	if err != nil {
		return nil, fmt.Errorf("server.tls.cert-file %s: %w", t.CertFile, err)
	}
	srv.TLSConfig = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// h2 in NextProtos makes http.Server.Serve answer HTTP/2 on the TLS listener.
		NextProtos: []string{"h2", "http/1.1"},
	}
	ln, err := net.Listen("tcp", a.cfg.Server.Listen)
	if err != nil {
		return nil, err
	}
	a.self.CertExpiry.Emit(float64(leaf.NotAfter.Unix()), t.CertFile)
	log := a.log.With("cert-file", t.CertFile, "subject", leaf.Subject.String(), "not-after", leaf.NotAfter.UTC().Format(time.RFC3339))
	if left := time.Until(leaf.NotAfter); left <= 0 {
		log.Warn("the server's TLS certificate has expired")
	} else {
		log.Info("serving HTTPS", "expires-in", left.Round(time.Hour).String())
	}
	return tls.NewListener(ln, srv.TLSConfig), nil
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
