package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/duometer/duometer/pkg/events"
)

// BasicAuth guards next with HTTP basic auth. Credentials are compared in constant time
// (both sides hashed first, so lengths leak nothing either). A request without the right
// credentials is answered 401 with a Basic challenge and counted as duometer.auth.failed;
// one with them is counted as duometer.auth.success. The secret appears in no log or error.
func BasicAuth(username, secret string, self *events.Self, next http.Handler) http.Handler {
	wantUser := sha256.Sum256([]byte(username))
	wantSecret := sha256.Sum256([]byte(secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		u := sha256.Sum256([]byte(user))
		p := sha256.Sum256([]byte(pass))
		match := subtle.ConstantTimeCompare(u[:], wantUser[:]) & subtle.ConstantTimeCompare(p[:], wantSecret[:])
		if !ok || match != 1 {
			self.AuthFailed.Inc()
			w.Header().Set("WWW-Authenticate", `Basic realm="duometer", charset="UTF-8"`)
			http.Error(w, "401 unauthorized: this endpoint needs HTTP basic auth", http.StatusUnauthorized)
			return
		}
		self.AuthSuccess.Inc()
		next.ServeHTTP(w, r)
	})
}
