package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/duometer/duometer/pkg/events"
)

// selfPrefix starts the name of every one of duometer's own events; user
// events may not use it.
const selfPrefix = "duometer."

// Def converts e to the events package's definition, parsing its kind with
// [events.ParseKind] and its aggregation with [events.ParseAggregation]. The
// error reports each field that does not parse, as "kind: ..." or
// "aggregation: ...", joined with [errors.Join]; the Def is still returned
// with those fields left at their zero values. Def does not run
// [events.Def.Validate].
func (e Event) Def() (events.Def, error) {
	d := events.Def{
		Name:             e.Name,
		Unit:             e.Unit,
		Description:      e.Description,
		Labels:           e.Labels,
		Buckets:          e.Buckets,
		CardinalityLimit: e.CardinalityLimit,
	}
	var errs []error
	if e.Kind == "" {
		errs = append(errs, errors.New("kind: is required: counter, updown, gauge or histogram"))
	} else if k, err := events.ParseKind(e.Kind); err != nil {
		errs = append(errs, fmt.Errorf("kind: %w", err))
	} else {
		d.Kind = k
	}
	if a, err := events.ParseAggregation(e.Aggregation); err != nil {
		errs = append(errs, fmt.Errorf("aggregation: %w", err))
	} else {
		d.Aggregation = a
	}
	return d, errors.Join(errs...)
}

// DefineEvents applies metrics.cardinality-limit and metrics.disabled-events
// to cat and defines every [[events]] entry in it, in order. This is how a Go
// program builds the same catalog as the server from a configuration file.
//
// It first checks those settings and entries as [Config.Validate] does and
// returns their problems without changing cat. An entry whose name cat
// already holds is reported as "events[i]: ..."; the other entries are still
// defined.
func (c Config) DefineEvents(cat *events.Catalog) error {
	var p problems
	c.Metrics.validateEvents("metrics", &p)
	validateEventEntries(c.Events, &p)
	if len(p) > 0 {
		return errors.Join(p.errs()...)
	}
	if err := cat.SetDisabled(c.Metrics.DisabledEvents); err != nil {
		return fmt.Errorf("metrics.disabled-events%w", err) // unreachable: validated above
	}
	cat.SetCardinalityLimit(c.Metrics.CardinalityLimit)
	var errs []error
	for i, e := range c.Events {
		d, err := e.Def()
		if err == nil {
			_, err = cat.Define(d)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("events[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// LoadCatalog loads the configuration file at path, without the environment,
// as Load(path, nil) does, and returns a new catalog ([events.NewCatalog])
// with the configuration's events defined in it by [Config.DefineEvents].
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

// validateEventEntries checks the [[events]] entries: each converts to a
// valid events.Def, does not take a reserved name and has a name of its own.
func validateEventEntries(entries []Event, p *problems) {
	reserved := map[string]bool{}
	promNames := map[string]string{} // Prometheus base name -> event that has it
	for _, d := range events.SelfDefs {
		reserved[d.Name] = true
		promNames[promName(d.Name)] = d.Name
	}
	seen := map[string]int{}
	for i, e := range entries {
		prefix := fmt.Sprintf("events[%d]", i)
		d, defErr := e.Def()
		msgs := splitErrors(defErr)
		kindBad, nameBad := d.Kind == 0, false
		var fieldErrs *events.DefError
		errors.As(d.Validate(), &fieldErrs)
		for _, fe := range defErrProblems(fieldErrs) {
			msg := fe.Error()
			if kindBad && strings.HasPrefix(msg, "kind:") {
				continue // already reported by Def
			}
			if strings.HasPrefix(msg, "name:") {
				nameBad = true
				if e.Name == "" {
					msg = "name: is required, e.g. \"backup.completed\""
				}
			}
			msgs = append(msgs, errors.New(msg))
		}
		for _, err := range msgs {
			field, msg, ok := strings.Cut(err.Error(), ": ")
			if !ok {
				p.add(prefix, "%s", err.Error())
				continue
			}
			p.add(prefix+"."+field, "%s", msg)
		}
		if e.CardinalityLimit < -1 {
			p.add(prefix+".cardinality-limit", "must be positive, 0 (metrics.cardinality-limit) or -1 (no limit), got %d", e.CardinalityLimit)
		}

		if e.Name == "" {
			continue
		}
		nameKey := prefix + ".name"
		switch first, dup := seen[e.Name]; {
		case reserved[e.Name] || strings.HasPrefix(e.Name, selfPrefix):
			p.add(nameKey, "%q is reserved for duometer's own events", e.Name)
		case dup:
			p.add(nameKey, "%q is already defined by events[%d]", e.Name, first)
		case nameBad:
			seen[e.Name] = i
		default:
			seen[e.Name] = i
			pn := promName(e.Name)
			if other, clash := promNames[pn]; clash {
				p.add(nameKey, "%q has the same Prometheus name, %s, as %q", e.Name, pn, other)
			} else {
				promNames[pn] = e.Name
			}
		}
	}
}

// promName is the base of an event's Prometheus metric name: dots and dashes
// become underscores.
func promName(name string) string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(name)
}

// splitErrors returns the errors joined in err (one level of
// errors.Join), or err alone; nil for nil.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// validateEvents checks the settings of m that apply to events.
func (m Metrics) validateEvents(prefix string, p *problems) {
	for i, pattern := range m.DisabledEvents {
		key := fmt.Sprintf("%s.disabled-events[%d]", prefix, i)
		switch stars := strings.Count(pattern, "*"); {
		case pattern == "":
			p.add(key, "must not be empty")
		case stars > 1:
			p.add(key, "pattern %q may contain at most one \"*\"", pattern)
		case stars == 1 && pattern[0] != '*' && pattern[len(pattern)-1] != '*':
			p.add(key, "pattern %q may only have \"*\" at its start or end", pattern)
		}
	}
	if m.CardinalityLimit <= 0 && m.CardinalityLimit != -1 {
		p.add(prefix+".cardinality-limit", "must be positive or -1, got %d", m.CardinalityLimit)
	}
}

func defErrProblems(e *events.DefError) []events.FieldError {
	if e == nil {
		return nil
	}
	return e.Problems
}
