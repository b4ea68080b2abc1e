package telemetry

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/logging"
)

// HandleOTelErrors routes the errors the OpenTelemetry SDK reports (failed exports among
// them) to log, at most one line per interval, and counts each in
// duometer.telemetry.errors{source="sdk"}. It sets the process-wide OpenTelemetry error
// handler.
func HandleOTelErrors(log *slog.Logger, every time.Duration, self *events.Self) {
	rl := logging.NewRateLimited(log, every)
	sdk := self.TelemetryErrors.With("sdk")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		sdk.Inc()
		rl.Warn("otel", "OpenTelemetry SDK error", "err", err)
	}))
}
