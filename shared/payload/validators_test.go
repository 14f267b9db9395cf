package payload

import (
	"math/rand/v2"
	"testing"

	pt "github.com/stepship/stepship/shared/internal/patterntest"
)

// TestValidatorsMatchCountedPatterns: each validator accepts exactly what the
// counted pattern it replaced did (see nameRE).
func TestValidatorsMatchCountedPatterns(t *testing.T) {
	const lowerDigits = pt.LowerDigits
	pt.Compare(t, map[string]pt.Case{
		"validName": pt.NameCase(validName),
		"validBucket": {Pattern: `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, Valid: validBucket, Gen: func(r *rand.Rand) string {
			return pt.Sometimes(r, pt.Word(r, "az09.-"+lowerDigits+lowerDigits, pt.Near(r, 63)), "_A/é")
		}},
		"validDigest": {Pattern: `^sha256:[0-9a-f]{64}$`, Valid: validDigest, Gen: func(r *rand.Rand) string {
			n := 64
			if r.IntN(2) == 0 {
				n = pt.Near(r, 64)
			}
			return pt.Sometimes(r, "sha256:"+pt.Word(r, "0123456789abcdef", n), "gA:é")
		}},
	})
}
