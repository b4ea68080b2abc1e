package events

import (
	"errors"
	"fmt"
	"strings"
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
// API may not declare or post events under them; Go code that embeds the packages may.
var ReservedPrefixes = []string{"duometer.", "go.", "process."}

// Reserved returns the reserved prefix that name starts with, if any.
func Reserved(name string) (prefix string, ok bool) {
	for _, p := range ReservedPrefixes {
		if strings.HasPrefix(name, p) {
			return p, true
		}
	}
	return "", false
}
