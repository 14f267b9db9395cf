package server

import (
	"strings"
	"unicode/utf8"
)

// validName applies the Step Functions rules for state machine and execution names:
// 1–80 characters; no whitespace, brackets < > { } [ ], wildcards ? *, special
// characters " # % \ ^ | ~ ` $ & , ; : /, or control characters (U+0000–001F,
// U+007F–009F).
func validName(name string) (string, bool) {
	if name == "" {
		return "name must not be empty", false
	}
	if !utf8.ValidString(name) {
		return "name must be valid UTF-8", false
	}
	if n := utf8.RuneCountInString(name); n > 80 {
		return "name must be at most 80 characters", false
	}
	for _, r := range name {
		switch {
		case r <= 0x1f, r >= 0x7f && r <= 0x9f:
			return "name must not contain control characters", false
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0xa0 || r == 0x2028 || r == 0x2029 || r == 0x3000 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x202f || r == 0x205f:
			return "name must not contain whitespace", false
		case strings.ContainsRune(`<>{}[]?*"#%\^|~`+"`"+`$&,;:/`, r):
			return "name must not contain any of < > { } [ ] ? * \" # % \\ ^ | ~ ` $ & , ; : /", false
		}
	}
	return "", true
}

// arnParts splits "arn:aws:states:REGION:ACCOUNT:KIND:REST" into region, account,
// kind and rest.
func arnParts(arn string) (region, account, kind, rest string, ok bool) {
	p := strings.SplitN(arn, ":", 7)
	if len(p) != 7 || p[0] != "arn" || p[1] == "" || p[2] != "states" || p[3] == "" || p[4] == "" || p[6] == "" {
		return "", "", "", "", false
	}
	return p[3], p[4], p[5], p[6], true
}
