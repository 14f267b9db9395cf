// Package git holds the git facts every other package agrees on: the hosts
// stepship accepts pushes from, the shape of a commit id, and how a full ref
// names a branch or a tag. The catalog, the webhook parser, the intake policy
// and the deploy payloads all use these, so a provider or a ref prefix is
// written once.
package git

import "strings"

// Provider names a git host family, as the catalog writes it.
type Provider string

// Providers. Bitbucket Cloud and Bitbucket Data Center share "bitbucket".
const (
	GitHub    Provider = "github"
	GitLab    Provider = "gitlab"
	Bitbucket Provider = "bitbucket"
)

// Providers lists every provider, in the order the docs name them.
var Providers = []Provider{GitHub, GitLab, Bitbucket}

// Valid reports whether p is a known provider.
func (p Provider) Valid() bool {
	for _, q := range Providers {
		if p == q {
			return true
		}
	}
	return false
}

// Ref prefixes of branches and tags.
const (
	BranchPrefix = "refs/heads/"
	TagPrefix    = "refs/tags/"
)

// Branch returns the branch name of a full ref, and whether it is a branch.
func Branch(ref string) (string, bool) { return cut(ref, BranchPrefix) }

// Tag returns the tag name of a full ref, and whether it is a tag.
func Tag(ref string) (string, bool) { return cut(ref, TagPrefix) }

func cut(ref, prefix string) (string, bool) {
	name, ok := strings.CutPrefix(ref, prefix)
	return name, ok && name != ""
}

// ShortRef is a ref without its refs/heads/ or refs/tags/ prefix, for
// messages.
func ShortRef(ref string) string {
	if name, ok := Branch(ref); ok {
		return name
	}
	if name, ok := Tag(ref); ok {
		return name
	}
	return ref
}

// ZeroCommit is the "after" of a push that deleted its ref (SHA-1 repositories).
const ZeroCommit = "0000000000000000000000000000000000000000"

// IsZeroCommit reports whether sha is empty or all zeros.
func IsZeroCommit(sha string) bool { return strings.Trim(sha, "0") == "" }

// ValidCommit reports whether sha is a full commit id: 40 (SHA-1) or 64
// (SHA-256) lower-case hex digits.
func ValidCommit(sha string) bool {
	if len(sha) != 40 && len(sha) != 64 {
		return false
	}
	for i := 0; i < len(sha); i++ {
		c := sha[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
