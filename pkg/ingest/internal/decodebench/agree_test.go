package decodebench

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func sameEvent(a, b Event) bool {
	return a.Name == b.Name && a.HasValue == b.HasValue &&
		math.Float64bits(a.Value) == math.Float64bits(b.Value) && slices.Equal(a.Labels, b.Labels)
}

// Every decoder reads the same events as duometer's from every body, twice in a row (the
// second time reusing what the first left).
func TestDecodersAgree(t *testing.T) {
	for _, b := range append(slices.Clone(benchBodies), moreBodies...) {
		ref := new(Duometer)
		if err := ref.Decode(b.data, b.text(), b.format); err != nil {
			t.Fatalf("%s: duometer: %v", b.name, err)
		}
		want := ref.Events()
		if len(want) != b.events {
			t.Fatalf("%s: duometer read %d events, want %d", b.name, len(want), b.events)
		}
		for _, d := range Decoders()[1:] {
			dec := d.New()
			for round := 1; round <= 2; round++ {
				if err := dec.Decode(b.data, b.text(), b.format); err != nil {
					t.Errorf("%s: %s: %v", b.name, d.Name, err)
					break
				}
				got := dec.Events()
				if len(got) != len(want) {
					t.Errorf("%s: %s read %d events, duometer %d", b.name, d.Name, len(got), len(want))
					break
				}
				for i := range got {
					if !sameEvent(got[i], want[i]) {
						t.Errorf("%s: %s: [%d] = %v, duometer %v", b.name, d.Name, i, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// TestStrictness lists the bodies that duometer's decoder refuses (a syntax error, or an
// event of the wrong shape) and each library accepts; it fails only if duometer's accepts
// one. See it with go test -run Strictness -v.
func TestStrictness(t *testing.T) {
	decs := Decoders()
	accepted := map[string][]string{}
	for _, b := range badBodies {
		for _, d := range decs {
			err := d.New().Decode(b.data, b.text(), b.format)
			if err == nil {
				accepted[d.Name] = append(accepted[d.Name], b.name)
			}
		}
	}
	if a := accepted["duometer"]; len(a) > 0 {
		t.Errorf("duometer accepted %s", strings.Join(a, "; "))
	}
	for _, d := range decs[1:] {
		t.Logf("%-18s accepts %d of %d: %s", d.Name, len(accepted[d.Name]), len(badBodies), strings.Join(accepted[d.Name], "; "))
	}
}
