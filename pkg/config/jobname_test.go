package config_test

import (
	"fmt"
	"testing"

	"github.com/duometer/duometer/pkg/config"
)

// TestRenderJobName holds the cases of pkg/push's TestRenderJobName, from which the rule
// moved, and the messages of metrics.pushgateway.job-name.
func TestRenderJobName(t *testing.T) {
	vars := map[string]string{"name": "duometer", "host": "db-1.example", "cluster": "prod"}
	for _, tc := range []struct {
		tmpl     string
		job      string
		grouping map[string]string
	}{
		{config.DefaultJobName, "duometer", map[string]string{"instance": "duometer~db-1.example"}},
		{"${cluster}", "prod", map[string]string{}},
		{"metrics/cluster/${cluster}/node/${name}@${host}", "metrics", map[string]string{"cluster": "prod", "node": "duometer@db-1.example"}},
		{"j/instance/", "j", map[string]string{"instance": ""}},
		{"${name}/instance/${name}~", "duometer", map[string]string{"instance": "duometer~"}},
		{"job$1/a/$", "job$1", map[string]string{"a": "$"}},
	} {
		job, grouping, err := config.RenderJobName(tc.tmpl, vars)
		if err != nil || job != tc.job || fmt.Sprint(grouping) != fmt.Sprint(tc.grouping) {
			t.Errorf("RenderJobName(%q) = %q, %v, %v; want %q, %v", tc.tmpl, job, grouping, err, tc.job, tc.grouping)
		}
	}
	// A value holding '/' stays within its component.
	job, grouping, err := config.RenderJobName(config.DefaultJobName, map[string]string{"name": "a/b", "host": "h"})
	if err != nil || job != "a/b" || grouping["instance"] != "a/b~h" {
		t.Errorf("value with '/': %q, %v, %v", job, grouping, err)
	}
	for tmpl, want := range map[string]string{
		"":                     "must not be empty",
		"${nope}/instance/x":   "unknown placeholder ${nope}: only ${cluster}, ${host} and ${name} are allowed",
		"${name/instance/x":    `unterminated "${" in "${name"`,
		"${name}/instance":     `must be a job name followed by label/value pairs, all separated by "/", got "${name}/instance"`,
		"/instance/x":          `the job name (before the first "/") is empty in "/instance/x"`,
		"${name}/job/x":        `"job" cannot be a grouping label: it is the first component`,
		"${name}/in-stance/x":  `grouping label name "in-stance" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __`,
		"${name}/__meta/x":     `grouping label name "__meta" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __`,
		"${name}/a/1/a/2":      `grouping label "a" appears twice`,
		"${name}/${host}/x":    `grouping label name "db-1.example" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __`,
		"x/${a}/${b}/${name":   "unknown placeholder ${a}: only ${cluster}, ${host} and ${name} are allowed\nunknown placeholder ${b}: only ${cluster}, ${host} and ${name} are allowed\nunterminated \"${\" in \"${name\"",
		"${name}${x}/instance": "unknown placeholder ${x}: only ${cluster}, ${host} and ${name} are allowed",
	} {
		job, grouping, err := config.RenderJobName(tmpl, vars)
		if err == nil || err.Error() != want || job != "" || grouping != nil {
			t.Errorf("RenderJobName(%q) = %q, %v, %v; want the error %q", tmpl, job, grouping, err, want)
		}
	}
	if _, _, err := config.RenderJobName("${x}", nil); err == nil || err.Error() != "unknown placeholder ${x}: no placeholders are allowed" {
		t.Errorf("RenderJobName without variables = %v", err)
	}
	// Several problems are joined, one per line.
	_, _, err = config.RenderJobName("${a}/x/${b}", nil)
	if j, ok := err.(interface{ Unwrap() []error }); !ok || len(j.Unwrap()) != 2 {
		t.Errorf("RenderJobName with two unknown placeholders = %v, want two joined errors", err)
	}
	if got := config.DefaultConfig().Metrics.Pushgateway.JobName; got != config.DefaultJobName {
		t.Errorf("the default job-name is %q, want DefaultJobName", got)
	}
}
