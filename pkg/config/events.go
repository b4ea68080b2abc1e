package config

import (
	"errors"
	"fmt"
	"slices"

	"github.com/duometer/duometer/pkg/events"
)

// Def converts e to the events package's definition, parsing its kind with
// [events.ParseKind] and its aggregation with [events.ParseAggregation]. The error joins an
// [events.FieldError] for each field that does not parse ("kind: ...", "aggregation: ..."); the
// Def is still returned, with those fields at their zero values. Def does not run
// [events.Def.Validate].
func (e Event) Def() (events.Def, error) {
	d := events.Def{Name: e.Name, Unit: e.Unit, Description: e.Description, Labels: e.Labels, Buckets: e.Buckets,
		CardinalityLimit: e.CardinalityLimit, TTL: e.TTL}
	var errs []error
	k, err := events.ParseKind(e.Kind)
	if e.Kind == "" {
		err = errors.New("is required: counter, updown, gauge or histogram")
	}
	if d.Kind = k; err != nil {
		errs = append(errs, events.FieldError{Field: "kind", Msg: err.Error()})
	}
	if d.Aggregation, err = events.ParseAggregation(e.Aggregation); err != nil {
		errs = append(errs, events.FieldError{Field: "aggregation", Msg: err.Error()})
	}
	return d, errors.Join(errs...)
}

// Validate checks the entry on its own: it converts ([Event.Def]), its definition is valid
// ([events.Def.Validate]) and its name is not reserved ([events.Reserved]). Keys are the
// entry's fields. [Config.Validate] also checks the entries against each other and against
// duometer's own events.
func (e Event) Validate() error {
	d, err := e.Def()
	r := report(problems("", err))
	n := len(r) // the fields Def could not parse, left at their zero values
	for _, p := range problems("", d.Validate()) {
		switch {
		case slices.ContainsFunc(r[:n], func(u *fieldError) bool { return u.key == p.key }): // already reported
		case p.key == "name" && e.Name == "":
			r.add("name", `is required, e.g. "backup.completed"`)
		default:
			r = append(r, p)
		}
	}
	if e.CardinalityLimit < -1 {
		r.add("cardinality-limit", "must be positive, 0 (metrics.cardinality-limit) or -1 (no limit), got %d", e.CardinalityLimit)
	}
	if _, reserved := events.Reserved(e.Name); reserved {
		r.add("name", "%q is reserved for duometer's own events", e.Name)
	}
	return r.err()
}

// validateEvents checks the [[events]] entries, keyed "events[i]...": each on its own, then
// by defining them, in order, in a scratch catalog that holds duometer's own events, so that
// a name taken by an earlier entry, or with the Prometheus name of another event, is refused
// as [Config.DefineEvents] would. An invalid entry still takes its name; a reserved one
// (every built-in event's) is left to Validate.
func validateEvents(entries []Event) error {
	var r report
	cat, first := events.NewCatalog(), map[string]int{}
	for i, e := range entries {
		key, err := fmt.Sprintf("events[%d]", i), e.Validate()
		r.sub(key, err)
		d, _ := e.Def()
		if _, reserved := events.Reserved(e.Name); reserved {
			continue
		} else if err != nil {
			d = events.Def{Name: e.Name, Kind: events.Counter}
		}
		_, err = cat.Define(d)
		var clash *events.NameClashError
		switch {
		case errors.Is(err, events.ErrDefined):
			r.add(key+".name", "%q is already defined by events[%d]", e.Name, first[e.Name])
		case errors.As(err, &clash):
			r.add(key+".name", "%q has the same Prometheus name, %s, as %q", clash.Name, clash.PrometheusName, clash.Other)
		case err == nil:
			first[e.Name] = i
		}
	}
	return r.err()
}

// DefineEvents applies metrics.cardinality-limit, metrics.max-series,
// metrics.max-label-bytes and metrics.disabled-events to cat and defines every [[events]]
// entry in it, in order. This is how a Go program builds the same
// catalog as the server from a configuration file.
//
// It first checks those settings and entries as [Config.Validate] does and returns their
// problems without changing cat. An entry that cat refuses (a name it already holds) is
// reported as "events[i]: ..." wrapping the catalog's error; the other entries are still
// defined.
func (c Config) DefineEvents(cat *events.Catalog) error {
	r := report(problems("metrics", c.Metrics.eventProblems()))
	if r.sub("", validateEvents(c.Events)); len(r) > 0 {
		return r.err()
	}
	_ = cat.SetDisabled(c.Metrics.DisabledEvents) // cannot fail: validated above
	cat.SetCardinalityLimit(c.Metrics.CardinalityLimit)
	cat.SetMaxSeries(c.Metrics.MaxSeries) // -1: no limit
	cat.SetMaxLabelBytes(int64(c.Metrics.MaxLabelBytes))
	var errs []error
	for i, e := range c.Events {
		d, _ := e.Def()
		if _, err := cat.Define(d); err != nil {
			errs = append(errs, fmt.Errorf("events[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// LoadCatalog loads the configuration file at path, without the environment, as
// Load(path, nil) does, and returns a new catalog ([events.NewCatalog]) with the
// configuration's events defined in it by [Config.DefineEvents].
func LoadCatalog(path string) (*events.Catalog, error) {
	cfg, err := Load(path, nil)
	if err != nil {
		return nil, err
	}
	cat := events.NewCatalog()
	if err := cfg.DefineEvents(cat); err != nil {
		return nil, err
	}
	return cat, nil
}
