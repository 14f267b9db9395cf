package git

import (
	"strings"
	"testing"
)

func TestProviderValid(t *testing.T) {
	tests := []struct {
		p    Provider
		want bool
	}{
		{GitHub, true}, {GitLab, true}, {Bitbucket, true},
		{"", false}, {"GitHub", false}, {"gitea", false}, {"bitbucket-dc", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.p), func(t *testing.T) {
			if got := tt.p.Valid(); got != tt.want {
				t.Errorf("Provider(%q).Valid() = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	tests := []struct {
		name, ref       string
		branch, tag     string
		isBranch, isTag bool
		short           string
	}{
		{name: "branch", ref: "refs/heads/main", branch: "main", isBranch: true, short: "main"},
		{name: "branch with slash", ref: "refs/heads/release/1.2", branch: "release/1.2", isBranch: true, short: "release/1.2"},
		{name: "tag", ref: "refs/tags/v1.4.0", tag: "v1.4.0", isTag: true, short: "v1.4.0"},
		{name: "bare branch prefix", ref: "refs/heads/", short: "refs/heads/"},
		{name: "bare tag prefix", ref: "refs/tags/", short: "refs/tags/"},
		{name: "notes", ref: "refs/notes/commits", short: "refs/notes/commits"},
		{name: "short name is neither", ref: "main", short: "main"},
		{name: "empty", ref: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, ok := Branch(tt.ref); ok != tt.isBranch || ok && b != tt.branch {
				t.Errorf("Branch(%q) = %q, %v; want %q, %v", tt.ref, b, ok, tt.branch, tt.isBranch)
			}
			if g, ok := Tag(tt.ref); ok != tt.isTag || ok && g != tt.tag {
				t.Errorf("Tag(%q) = %q, %v; want %q, %v", tt.ref, g, ok, tt.tag, tt.isTag)
			}
			if got := ShortRef(tt.ref); got != tt.short {
				t.Errorf("ShortRef(%q) = %q, want %q", tt.ref, got, tt.short)
			}
		})
	}
}

func TestCommits(t *testing.T) {
	sha1 := "3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4"
	sha256 := strings.Repeat("ab", 32)
	tests := []struct {
		name        string
		sha         string
		valid, zero bool
	}{
		{"sha-1", sha1, true, false},
		{"sha-256", sha256, true, false},
		{"zero sha-1", ZeroCommit, true, true},
		{"zero sha-256", strings.Repeat("0", 64), true, true},
		{"empty", "", false, true},
		{"short", sha1[:7], false, false},
		{"41 digits", sha1 + "a", false, false},
		{"upper case", strings.ToUpper(sha1), false, false},
		{"not hex", "g" + sha1[1:], false, false},
		{"shell", "$(id)" + sha1[5:], false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidCommit(tt.sha); got != tt.valid {
				t.Errorf("ValidCommit(%q) = %v, want %v", tt.sha, got, tt.valid)
			}
			if got := IsZeroCommit(tt.sha); got != tt.zero {
				t.Errorf("IsZeroCommit(%q) = %v, want %v", tt.sha, got, tt.zero)
			}
		})
	}
}
