package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/stepship/stepship/shared/git"
)

// Key is one webhook secret: for every repository of a provider, or for one
// repository only.
type Key struct {
	Provider git.Provider
	// Repository is empty for the provider's key, or the full name of the
	// one repository this key signs for (compared case-insensitively).
	Repository string
	// Secret is the shared secret: an HMAC key (GitHub, Bitbucket), a
	// "whsec_" signing secret (GitLab's signed form) or a token (GitLab's
	// token form).
	Secret []byte
}

// Keyring is every secret a delivery may be verified with: the current
// secret's keys and, during a rotation, the previous secret's.
type Keyring []Key

// KeyringFormat is the webhook secret's format, shown in every error about it.
const KeyringFormat = `a JSON object with one key per git host and optionally per repository: {"github": "HMAC-SECRET", "gitlab": "whsec_BASE64-SIGNING-KEY (or a token)", "bitbucket": "HMAC-SECRET", "github:owner/repo": "HMAC-SECRET"}; each value at least 16 characters (see docs/webhook.md)`

// minSecretLen is the shortest secret accepted.
const minSecretLen = 16

// KeyringError says why a secret's value is not a keyring. It never contains
// the value.
type KeyringError struct{ Problem string }

func (e *KeyringError) Error() string {
	return "webhook secret: " + e.Problem + "; expected " + KeyringFormat
}

// ParseKeyring reads a webhook secret's value. A plain string, an unknown
// host, an empty or short value, or a GitLab signing secret that is not
// base64 is a *KeyringError.
func ParseKeyring(value []byte) (Keyring, error) {
	var m map[string]string
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, &KeyringError{Problem: "the value is not a JSON object of strings"}
	}
	if len(m) == 0 {
		return nil, &KeyringError{Problem: "the object names no git host"}
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	ring := make(Keyring, 0, len(m))
	for _, name := range names {
		provider, repo, _ := strings.Cut(name, ":")
		p := git.Provider(provider)
		if !p.Valid() {
			// The name is not echoed: a secret pasted as a name would reach the logs.
			return nil, &KeyringError{Problem: "a key is neither github, gitlab, bitbucket nor HOST:owner/repo"}
		}
		if strings.Contains(name, ":") && (repo == "" || !strings.Contains(repo, "/")) {
			return nil, &KeyringError{Problem: fmt.Sprintf("key %q: a repository key is HOST:owner/repo", name)}
		}
		if len(m[name]) < minSecretLen {
			return nil, &KeyringError{Problem: fmt.Sprintf("key %q: the secret is shorter than %d characters", name, minSecretLen)}
		}
		secret := []byte(m[name])
		if p == git.GitLab && isSigningSecret(secret) && len(standardKey(secret)) < minSecretLen {
			return nil, &KeyringError{Problem: fmt.Sprintf("key %q: a whsec_ signing secret must be base64 of at least %d bytes after the prefix", name, minSecretLen)}
		}
		// One value under two keys would undo the separation: a GitLab
		// token, which travels in clear, would also be another host's HMAC key.
		for _, k := range ring {
			if string(k.Secret) == m[name] {
				return nil, &KeyringError{Problem: fmt.Sprintf("keys %q and %q have the same secret: give each its own", keyName(k), name)}
			}
		}
		ring = append(ring, Key{Provider: p, Repository: repo, Secret: secret})
	}
	return ring, nil
}

// keyName is the keyring's name of a key: HOST or HOST:owner/repo.
func keyName(k Key) string {
	if k.Repository == "" {
		return string(k.Provider)
	}
	return string(k.Provider) + ":" + k.Repository
}

// mayAuthorize reports whether a delivery of provider p whose verified keys
// are matched may speak for the repository: a repository that has keys of
// its own accepts only those; any other accepts the provider's key. A
// delivery naming no repository (some pings) needs any verified key.
// matched[i] says whether k[i] verified the delivery (verify returns one
// entry per key).
func (k Keyring) mayAuthorize(p git.Provider, repository string, matched []bool) bool {
	own := false
	for _, key := range k {
		if key.Provider == p && key.Repository != "" && strings.EqualFold(key.Repository, repository) {
			own = true
		}
	}
	for i, ok := range matched {
		key := k[i]
		if !ok || key.Provider != p {
			continue
		}
		if repository == "" || (own && strings.EqualFold(key.Repository, repository)) || (!own && key.Repository == "") {
			return true
		}
	}
	return false
}
