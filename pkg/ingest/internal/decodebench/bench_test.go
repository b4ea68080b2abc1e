package decodebench

import "testing"

// BenchmarkDecode decodes each body with each decoder, reused from one body to the next.
// Besides ns/op, MB/s and allocs/op it reports ns/event and events/s.
func BenchmarkDecode(b *testing.B) {
	for _, body := range benchBodies {
		for _, d := range Decoders() {
			b.Run("body="+body.name+"/dec="+d.Name, func(b *testing.B) {
				dec, text := d.New(), body.text()
				if err := dec.Decode(body.data, text, body.format); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(body.data)))
				for b.Loop() {
					if err := dec.Decode(body.data, text, body.format); err != nil {
						b.Fatal(err)
					}
				}
				events := float64(b.N) * float64(body.events)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
				b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
