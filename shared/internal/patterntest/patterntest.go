// Package patterntest checks a validator against the regexp it replaced: the
// catalog's and the payloads' names with a length limit are checked by a
// pattern with * or + and a length test, since a counted repetition
// (x{1,255}) compiles into that many copies at every function's start. The
// validator must accept exactly what the counted pattern did.
package patterntest

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// Case is one validator and the counted pattern it replaced.
type Case struct {
	Pattern string
	Valid   func(string) bool
	// Gen makes a string to try: most near the pattern's length limits,
	// accepted and refused alike.
	Gen func(r *rand.Rand) string
}

// Edge cases every validator is tried on, besides its generator's.
var edges = []string{"", "-", ".", "a", "é", "ééé", "arn:", "s3://", "s3:///", "sha256:", "sha256:é"}

// Compare tries each case's validator and pattern on 20,000 strings of its
// generator (the same each run) and on a few edge cases, and fails t when
// they disagree, or when the generator made fewer than 2,000 strings of
// either answer (it would not cover both sides of the limits).
func Compare(t *testing.T, cases map[string]Case) {
	t.Helper()
	for name, c := range cases {
		re := regexp.MustCompile(c.Pattern)
		r := rand.New(rand.NewPCG(1, uint64(len(name))))
		var yes, no int
		for range 20000 {
			s := c.Gen(r)
			want := re.MatchString(s)
			if got := c.Valid(s); got != want {
				t.Errorf("%s(%q) (%d bytes) = %v, the pattern %s says %v", name, s, len(s), got, c.Pattern, want)
				break
			}
			if want {
				yes++
			} else {
				no++
			}
		}
		if yes < 2000 || no < 2000 {
			t.Errorf("%s: %d strings accepted and %d refused: the generator misses a side", name, yes, no)
		}
		for _, s := range edges {
			if got, want := c.Valid(s), re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the pattern says %v", name, s, got, want)
			}
		}
	}
}

// Word is n characters drawn from chars (ASCII).
func Word(r *rand.Rand, chars string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// Near is a length around limit: anything up to a little past it half the
// time, within 3 of it otherwise.
func Near(r *rand.Rand, limit int) int {
	if r.IntN(2) == 0 {
		return r.IntN(limit + 5)
	}
	return max(0, limit-3+r.IntN(7))
}

// Sometimes is s with, one time in ten, one byte replaced by one of bad.
func Sometimes(r *rand.Rand, s, bad string) string {
	if s == "" || r.IntN(10) != 0 {
		return s
	}
	i := r.IntN(len(s))
	return s[:i] + Word(r, bad, 1) + s[i+1:]
}

// LowerDigits are the lower-case letters and digits.
const LowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"

// NameCase is the case of a catalog name's validator (service, environment,
// assertion: 1-40 lower-case letters, digits or '-', starting and ending with
// a letter or digit), which the catalog and the payloads both check.
func NameCase(valid func(string) bool) Case {
	return Case{Pattern: `^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`, Valid: valid, Gen: func(r *rand.Rand) string {
		return Sometimes(r, Word(r, "ab09-"+LowerDigits, Near(r, 40)), "A_ .é")
	}}
}
