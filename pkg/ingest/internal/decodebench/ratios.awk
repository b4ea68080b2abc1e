# ratios.awk: time per event of each decoder relative to duometer's, from rounds of
# `go test -bench` output (see decodebench.go). Round k of a decoder is paired with round k of
# duometer on the same body; the median of those ratios and their range are printed, with the
# allocations per event.
#
#	awk -f ratios.awk bench.txt
/^BenchmarkDecode\// {
	split($1, p, "/"); body = p[2]; dec = p[3]; sub(/^body=/, "", body); sub(/^dec=/, "", dec); sub(/-[0-9]+$/, "", dec)
	r = ++n[body, dec]; bodies[body] = 1; decs[dec] = 1
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op") ns[body, dec, r] = $i + 0
		if ($(i+1) == "ns/event") nsev = $i + 0
		if ($(i+1) == "allocs/op") al = $i + 0
	}
	allocs[body, dec] = al / (ns[body, dec, r] / nsev)
}
function median(a, c,   i, j, t) {
	for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
END {
	for (body in bodies) for (dec in decs) {
		c = 0; split("", x)
		for (r = 1; r <= n[body, dec]; r++) if ((body, "duometer", r) in ns) x[++c] = ns[body, dec, r] / ns[body, "duometer", r]
		if (!c) continue
		m = median(x, c)   # sorts x
		printf "%-8s %-18s %6.2fx (%.2f-%.2f, %d rounds)  %6.2f allocs/event\n", body, dec, m, x[1], x[c], c, allocs[body, dec]
	}
}
