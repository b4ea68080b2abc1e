package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/duometer/duometer/pkg/config"
)

const (
	authSecret   = "hunter2-auth-secret"
	headerSecret = "Bearer tok3n-header-secret"
	ingestToken1 = "ingest-t0ken-one"
	ingestToken2 = "ingest-t0ken-two"
	pushSecret   = "pushgateway-s3cret"
	pushHeader   = "Bearer pushgateway-h3ader"
)

func TestSecret(t *testing.T) {
	s := config.Secret(authSecret)
	if got := s.Reveal(); got != authSecret {
		t.Errorf("Reveal() = %q", got)
	}
	text, _ := s.MarshalText()
	js, _ := s.MarshalJSON()
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("m", "s", s)
	for name, got := range map[string]string{
		"String":      s.String(),
		"GoString":    s.GoString(),
		"MarshalText": string(text),
		"MarshalJSON": string(js),
		"LogValue":    s.LogValue().String(),
		"%v":          fmt.Sprintf("%v", s),
		"%s":          fmt.Sprintf("%s", s), //nolint:staticcheck // the %s verb itself is under test
		"%q":          fmt.Sprintf("%q", s),
		"%#v":         fmt.Sprintf("%#v", s),
		"%x":          fmt.Sprintf("%x", s),
		"slog":        logged.String(),
	} {
		if strings.Contains(got, authSecret) || strings.Contains(got, fmt.Sprintf("%x", authSecret)) {
			t.Errorf("%s leaks the secret: %s", name, got)
		}
		if !strings.Contains(got, "<redacted>") && !strings.Contains(got, fmt.Sprintf("%x", "<redacted>")) {
			t.Errorf("%s = %s, want <redacted>", name, got)
		}
	}

	var empty config.Secret
	text, _ = empty.MarshalText()
	js, _ = empty.MarshalJSON()
	for name, got := range map[string]string{
		"String":      empty.String(),
		"GoString":    empty.GoString(),
		"MarshalText": string(text),
		"LogValue":    empty.LogValue().String(),
	} {
		if got != "" {
			t.Errorf("empty %s = %q, want \"\"", name, got)
		}
	}
	if string(js) != `""` {
		t.Errorf("empty MarshalJSON = %s, want \"\"", js)
	}
}

// secretConfig returns a valid Config holding both kinds of secrets.
func secretConfig() config.Config {
	c := config.DefaultConfig()
	c.Metrics.Prometheus.Auth = config.BasicAuth{Username: "prometheus", Secret: authSecret}
	c.Metrics.OpenTelemetry.Transport = "http"
	c.Metrics.OpenTelemetry.Endpoint = "https://collector.example:4318"
	c.Metrics.OpenTelemetry.Headers = map[string]config.Secret{"Authorization": headerSecret}
	c.Metrics.Pushgateway.Auth = config.BasicAuth{Username: "pusher", Secret: pushSecret}
	c.Metrics.Pushgateway.Headers = map[string]config.Secret{"X-Push-Token": pushHeader}
	c.Ingest.Tokens = []config.Secret{ingestToken1, ingestToken2}
	return c
}

func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{authSecret, headerSecret, "tok3n", ingestToken1, ingestToken2, "t0ken", pushSecret, pushHeader, "s3cret", "h3ader"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s leaks %q:\n%s", what, secret, s)
		}
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := secretConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		outputs[verb] = fmt.Sprintf(verb, c)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &c)
		outputs[verb+" open-telemetry"] = fmt.Sprintf(verb, c.Metrics.OpenTelemetry)
		outputs[verb+" metrics"] = fmt.Sprintf(verb, c.Metrics)
		outputs[verb+" auth"] = fmt.Sprintf(verb, c.Metrics.Prometheus.Auth)
		outputs[verb+" pushgateway"] = fmt.Sprintf(verb, c.Metrics.Pushgateway)
		outputs[verb+" pushgateway pointer"] = fmt.Sprintf(verb, &c.Metrics.Pushgateway)
		outputs[verb+" ingest"] = fmt.Sprintf(verb, c.Ingest)
		outputs[verb+" tokens"] = fmt.Sprintf(verb, c.Ingest.Tokens)
	}
	for name, v := range map[string]any{"pushgateway": c.Metrics.Pushgateway, "ingest": c.Ingest} {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs["json "+name] = string(js)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(js)

	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("config", "config", c)
		log.Info("config", slog.Any("pointer", &c))
		log.Info("config", "metrics", c.Metrics, "otel", c.Metrics.OpenTelemetry, "auth", c.Metrics.Prometheus.Auth)
		log.Info("config", "pushgateway", c.Metrics.Pushgateway, "ingest", c.Ingest, "tokens", c.Ingest.Tokens)
		outputs["slog "+name] = b.String()
	}

	for what, out := range outputs {
		assertNoSecrets(t, what, out)
		if !strings.Contains(out, "<redacted>") && !strings.Contains(out, `\u003credacted\u003e`) {
			t.Errorf("%s shows no <redacted> marker:\n%s", what, out)
		}
	}

	// The redacted output still shows the rest of the configuration.
	for _, want := range []string{"prometheus", "Authorization", "https://collector.example:4318", "pusher", "X-Push-Token", "http://127.0.0.1:9091"} {
		if !strings.Contains(outputs["%+v"], want) {
			t.Errorf("%%+v lacks %q:\n%s", want, outputs["%+v"])
		}
		if !strings.Contains(outputs["slog text"], want) {
			t.Errorf("slog text lacks %q:\n%s", want, outputs["slog text"])
		}
	}
	if !strings.HasPrefix(outputs["%#v open-telemetry"], "config.OpenTelemetry{") {
		t.Errorf("%%#v = %s, want it to start with config.OpenTelemetry{", outputs["%#v open-telemetry"])
	}
	if !strings.HasPrefix(outputs["%#v pushgateway"], "config.Pushgateway{") {
		t.Errorf("%%#v = %s, want it to start with config.Pushgateway{", outputs["%#v pushgateway"])
	}
	// Two tokens, two markers.
	if !strings.Contains(outputs["slog text"], `Tokens:[<redacted> <redacted>]`) {
		t.Errorf("slog text does not show the tokens as [<redacted> <redacted>]:\n%s", outputs["slog text"])
	}
	// Formatting must not modify the headers.
	if got := c.Metrics.OpenTelemetry.Headers["Authorization"]; got != headerSecret {
		t.Errorf("header changed to %q", got)
	}
	if got := c.Metrics.Pushgateway.Headers["X-Push-Token"]; got != pushHeader {
		t.Errorf("pushgateway header changed to %q", got)
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	// Validation problems next to secrets.
	c := secretConfig()
	c.Metrics.Prometheus.Auth.Username = ""
	c.Metrics.OpenTelemetry.Headers["bad name"] = headerSecret + "\n"
	c.Metrics.OpenTelemetry.Endpoint = "https://user:" + authSecret + "@collector"
	c.Metrics.Pushgateway.Auth.Username = ""
	c.Metrics.Pushgateway.URL = "https://user:" + pushSecret + "@pushgateway"
	c.Metrics.Pushgateway.Headers["bad name"] = pushHeader + "\r"
	c.Ingest.Tokens = append(c.Ingest.Tokens, ingestToken1, ingestToken2+" x", "")
	c.Cluster.Peers = []string{"http://user:" + pushSecret + "@peer:1", "ftp://user:" + pushSecret + "@peer:1", "http://user:" + pushSecret + "@peer:bad"}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	assertNoSecrets(t, "Validate error", err.Error())

	// Decoding problems with secrets in the file and the environment.
	path := writeFile(t, `
[metrics.prometheus.auth]
secret = "`+authSecret+`"
[metrics.open-telemetry]
transport = "http"
endpoint = "http://user:`+authSecret+`@host:bad"
headers = ["`+headerSecret+`", "X: `+headerSecret+`", "x: `+headerSecret+`"]
`)
	_, err = config.Load(path, []string{
		"DUOMETER_METRICS__PROMETHEUS__AUTH__SECRT=" + authSecret,
		"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__X_Y__Z=" + headerSecret,
		"DUOMETER_INGEST__TOKENS=" + ingestToken1 + ",," + ingestToken1 + "," + ingestToken2 + " x",
		"DUOMETER_INGEST__TOKEN=" + ingestToken2,
		"DUOMETER_METRICS__PUSHGATEWAY__AUTH__SECRET=" + pushSecret,
		"DUOMETER_METRICS__PUSHGATEWAY__HEADERS=" + pushHeader + "," + "X: " + pushHeader + "\n",
		"DUOMETER_EVENTS__0__NAME=" + pushSecret,
	})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	t.Log(err)
	if len(problems(err)) < 12 {
		t.Errorf("want at least 12 problems, got:\n%v", err)
	}
	assertNoSecrets(t, "Load error", err.Error())

	// Wrong types next to secrets, in the file.
	path = writeFile(t, `
[metrics.pushgateway]
url = "http://u:`+pushSecret+`@h:1"
headers = ["`+pushHeader+`", 3]
[metrics.pushgateway.auth]
secret = ["`+pushSecret+`"]
[ingest]
tokens = ["`+ingestToken1+`", 4, "`+ingestToken1+`"]
`)
	_, err = config.Load(path, nil)
	if len(problems(err)) < 4 {
		t.Errorf("want at least 4 problems, got:\n%v", err)
	}
	assertNoSecrets(t, "Load error", err.Error())
}

func TestSyntaxErrorNextToSecret(t *testing.T) {
	for _, content := range []string{
		"[metrics.prometheus.auth]\nusername = \"prometheus\"\nsecret = \"" + authSecret + "\"\ntimeout = 1s oops\n",
		"[metrics.prometheus.auth]\nsecret = \"" + authSecret + "\" oops\n",
		"[metrics.prometheus.auth]\nsecret = \"" + authSecret + "\nusername = \"x\"\n",
		"[metrics.open-telemetry]\nheaders = [\"Authorization: " + headerSecret + "\" \"x\"]\n",
	} {
		path := writeFile(t, content)
		_, err := config.Load(path, nil)
		if err == nil {
			t.Fatalf("Load succeeded on\n%s", content)
		}
		if !strings.HasPrefix(err.Error(), path+":") {
			t.Errorf("error %q does not start with the file name", err)
		}
		assertNoSecrets(t, "parse error", err.Error())
	}
}
