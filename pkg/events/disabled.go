package events

import (
	"fmt"
	"strings"
)

// Pattern matches event names: an exact name, "*" (every event), "prefix*" or "*suffix".
type Pattern string

// Validate reports whether p is one of the accepted forms.
func (p Pattern) Validate() error {
	s := string(p)
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case strings.Count(s, "*") > 1:
		return fmt.Errorf("pattern %q may contain at most one \"*\"", s)
	case strings.Contains(s, "*") && !strings.HasPrefix(s, "*") && !strings.HasSuffix(s, "*"):
		return fmt.Errorf("pattern %q may only have \"*\" at its start or end", s)
	}
	return nil
}

// Match reports whether name matches p.
func (p Pattern) Match(name string) bool {
	s := string(p)
	switch {
	case s == "*":
		return true
	case strings.HasSuffix(s, "*"):
		return strings.HasPrefix(name, s[:len(s)-1])
	case strings.HasPrefix(s, "*"):
		return strings.HasSuffix(name, s[1:])
	default:
		return name == s
	}
}

// MatchAny reports whether any pattern matches name.
func MatchAny(patterns []Pattern, name string) bool {
	for _, p := range patterns {
		if p.Match(name) {
			return true
		}
	}
	return false
}
