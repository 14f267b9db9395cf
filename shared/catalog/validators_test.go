package catalog

import (
	"math/rand/v2"
	"strings"
	"testing"

	pt "github.com/stepship/stepship/shared/internal/patterntest"
)

// TestValidatorsMatchCountedPatterns: each validator accepts exactly what the
// counted pattern it replaced did (see nameRE).
func TestValidatorsMatchCountedPatterns(t *testing.T) {
	const lowerDigits = pt.LowerDigits
	pt.Compare(t, map[string]pt.Case{
		"validName": pt.NameCase(validName),
		"validECSName": {Pattern: `^([A-Za-z0-9_-]{1,255}|arn:[A-Za-z0-9:/_.-]+)$`, Valid: validECSName, Gen: func(r *rand.Rand) string {
			s := pt.Word(r, "aZ09_-"+lowerDigits, pt.Near(r, 255))
			if r.IntN(3) == 0 {
				s = "arn:" + pt.Word(r, "aZ09:/_.-", pt.Near(r, 255))
			}
			return pt.Sometimes(r, s, ":/. é")
		}},
		"validCodeBuildProject": {Pattern: `^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$`, Valid: validCodeBuildProject, Gen: func(r *rand.Rand) string {
			return pt.Sometimes(r, pt.Word(r, "aZ09"+lowerDigits, 1)+pt.Word(r, "aZ09_-"+lowerDigits, pt.Near(r, 254)), "-. é")
		}},
		"validSubnetGroup": {Pattern: `^[a-z0-9._ -]{1,255}$`, Valid: validSubnetGroup, Gen: func(r *rand.Rand) string {
			return pt.Sometimes(r, pt.Word(r, "az09._ -"+lowerDigits, pt.Near(r, 255)), "A/é")
		}},
		"validTable": {Pattern: `^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`, Valid: validTable, Gen: func(r *rand.Rand) string {
			part := func() string { return pt.Word(r, "az_", 1) + pt.Word(r, "az09_"+lowerDigits, pt.Near(r, 62)) }
			s := part()
			if r.IntN(2) == 0 {
				s += "." + part()
			}
			return pt.Sometimes(r, s, ".9A-é")
		}},
		"validMigrationsLocation": {Pattern: `^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9!_.*'()-]+/)+$`, Valid: validMigrationsLocation, Gen: func(r *rand.Rand) string {
			bucket := pt.Word(r, "az09", 1) + pt.Word(r, "az09.-"+lowerDigits, pt.Near(r, 61)) + pt.Word(r, "az09", 1)
			return pt.Sometimes(r, "s3://"+bucket+"/"+pt.Word(r, "aZ09!_.*'()-", 1+r.IntN(8))+"/", "/:A é")
		}},
		"validAlarmName": {Pattern: `^[A-Za-z0-9 _.:/#+=@-]{1,255}$`, Valid: validAlarmName, Gen: func(r *rand.Rand) string {
			return pt.Sometimes(r, pt.Word(r, "aZ09 _.:/#+=@-", pt.Near(r, 255)), "\"\\é")
		}},
	})
}

// RDS identifiers are at most 63 characters, hyphens included; a letter
// first, no trailing or doubled hyphen.
func TestValidRDSIdentifier(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "web-prod": true, "a" + strings.Repeat("b", 62): true, "a" + strings.Repeat("-b", 31): true,
		"a" + strings.Repeat("b", 63): false, "a" + strings.Repeat("-b", 32): false,
		"": false, "1web": false, "web-": false, "web--prod": false, "Web": false, "web_prod": false,
	} {
		if got := validRDSIdentifier(s); got != want {
			t.Errorf("validRDSIdentifier(%q) (%d characters) = %v, want %v", s, len(s), got, want)
		}
	}
}
