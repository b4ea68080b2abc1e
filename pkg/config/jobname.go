package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
)

// DefaultJobName is the default of metrics.pushgateway.job-name: the job "<name>" with the
// grouping label instance="<name>~<host>".
const DefaultJobName = "${name}/instance/${name}~${host}"

// jobVar matches a placeholder of a job-name template.
var jobVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// RenderJobName renders a Pushgateway job-name template into the job name and the grouping
// labels, as the Pushgateway reads its path /metrics/job/<job>/<label>/<value>/...: the
// template is split at "/" into the job name and label/value pairs first, then each ${var}
// is replaced by vars[var] within its component, so that a value holding "/" stays in its
// component. A "$" that does not start "${" is kept.
//
// An empty template, an unknown variable, an unterminated "${", an empty job name, a label
// without a value, and a grouping label name that is not a legacy Prometheus label name,
// starts with "__", is "job" or comes twice are errors. The error joins one problem per
// unknown variable or unterminated "${", or else reports the first other problem.
func RenderJobName(template string, vars map[string]string) (job string, grouping map[string]string, err error) {
	if template == "" {
		return "", nil, errors.New("must not be empty")
	}
	parts := strings.Split(template, "/")
	var errs []error
	for i, part := range parts {
		if strings.Contains(jobVar.ReplaceAllString(part, ""), "${") {
			errs = append(errs, fmt.Errorf(`unterminated "${" in %q`, part))
		}
		parts[i] = jobVar.ReplaceAllStringFunc(part, func(m string) string {
			v, ok := vars[m[2:len(m)-1]]
			if !ok {
				errs = append(errs, fmt.Errorf("unknown placeholder %s: %s", m, allowed(vars)))
			}
			return v
		})
	}
	if len(errs) > 0 {
		return "", nil, errors.Join(errs...)
	}
	if len(parts)%2 == 0 {
		return "", nil, fmt.Errorf(`must be a job name followed by label/value pairs, all separated by "/", got %q`, template)
	}
	if parts[0] == "" {
		return "", nil, fmt.Errorf(`the job name (before the first "/") is empty in %q`, template)
	}
	grouping = map[string]string{}
	for i := 1; i < len(parts); i += 2 {
		label := parts[i]
		_, dup := grouping[label]
		switch {
		case !model.LegacyValidation.IsValidLabelName(label) || strings.HasPrefix(label, "__"):
			return "", nil, fmt.Errorf("grouping label name %q must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __", label)
		case label == "job":
			return "", nil, errors.New(`"job" cannot be a grouping label: it is the first component`)
		case dup:
			return "", nil, fmt.Errorf("grouping label %q appears twice", label)
		}
		grouping[label] = parts[i+1]
	}
	return parts[0], grouping, nil
}

// allowed lists the placeholders of vars, for messages.
func allowed(vars map[string]string) string {
	if len(vars) == 0 {
		return "no placeholders are allowed"
	}
	s := "${" + strings.Join(slices.Sorted(maps.Keys(vars)), "}, ${") + "}"
	if i := strings.LastIndex(s, ", "); i >= 0 {
		return "only " + s[:i] + " and " + s[i+2:] + " are allowed"
	}
	return "only " + s + " is allowed"
}
