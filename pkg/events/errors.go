package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// FieldError is one problem with one field of a Def. Field is the field's name as written in
// configuration, with an index for list items: "name", "labels[1]", "buckets".
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// DefError reports every problem of an invalid Def, one FieldError each, in field order.
// Def.Validate and Catalog.Define return it; read it with errors.As.
type DefError struct {
	Name     string
	Problems []FieldError
}

func (e *DefError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return fmt.Sprintf("event %q: %s", e.Name, strings.Join(lines, "\n"))
}

// ErrDefined is what Catalog.Define wraps when the name is taken.
var ErrDefined = errors.New("already defined")

// NameClashError is what Catalog.Define returns when another event of the catalog has the
// same Prometheus base name (see PrometheusBaseName): the exporter would give both one
// metric family.
type NameClashError struct {
	Name, Other, PrometheusName string
}

func (e *NameClashError) Error() string {
	return fmt.Sprintf("event %q has the same Prometheus name, %s, as %q", e.Name, e.PrometheusName, e.Other)
}

// ReservedPrefixes start the names that belong to duometer itself: its own events and the Go
// runtime and process instruments of the same MeterProvider. Configuration and the ingestion
// API may not declare or post events under them, nor events whose Prometheus names fall in
// the same namespaces (see [Reserved]); Go code that embeds the packages may.
var ReservedPrefixes = []string{"duometer.", "go.", "process."}

// reservedPrometheus are the Prometheus namespaces of ReservedPrefixes, and exporterNames the
// names the OpenTelemetry Prometheus exporter gives metrics of its own.
var (
	reservedPrometheus = []string{"duometer_", "go_", "process_"}
	exporterNames      = []string{"target_info", "otel_scope_info"}
)

// Reserved says whether name belongs to duometer itself, and by which rule, in words ready
// for a message ("names starting with \"go.\""): a name under ReservedPrefixes, or one whose
// Prometheus name (PrometheusBaseName) starts with duometer_, go_ or process_, whatever
// its spelling ("duometer-cache.hits" is duometer_cache_hits), or is target_info or
// otel_scope_info, which the exporter writes itself.
func Reserved(name string) (rule string, ok bool) {
	if p, ok := ownPrefix(name); ok {
		return fmt.Sprintf("names starting with %q", p), true
	}
	// Only names that start with the letters of a reserved name can reach one: the
	// Prometheus name is not worth building for the others.
	head := strings.TrimLeftFunc(name, func(r rune) bool { return !unicode.IsLetter(r) })
	if !slices.ContainsFunc([]string{"duometer", "go", "process", "target", "otel"}, func(w string) bool {
		return len(head) >= len(w) && strings.EqualFold(head[:len(w)], w)
	}) {
		return "", false
	}
	base := PrometheusBaseName(name)
	for _, p := range reservedPrometheus {
		if strings.HasPrefix(base, p) || base == p[:len(p)-1] {
			return fmt.Sprintf("names whose Prometheus name starts with %q", p), true
		}
	}
	if slices.Contains(exporterNames, base) {
		return fmt.Sprintf("names whose Prometheus name is %s", base), true
	}
	return "", false
}

// ownPrefix returns the prefix of ReservedPrefixes that name starts with, if any.
func ownPrefix(name string) (prefix string, ok bool) {
	for _, p := range ReservedPrefixes {
		if strings.HasPrefix(name, p) {
			return p, true
		}
	}
	return "", false
}
