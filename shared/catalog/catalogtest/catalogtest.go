// Package catalogtest writes service catalogs for tests, as webhooktest
// signs deliveries: one service, web, deployed from acme/web, with the
// environments a test needs, so that each test spells out only what it is
// about.
package catalogtest

import (
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/catalog"
)

// header is the service every catalog of this package has.
const header = `version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments:
`

// Environment is one environment of web, deployed from main to ECS service
// web of cluster demo, with more fields (YAML lines, indented by eight
// spaces) after those.
func Environment(name string, fields ...string) string {
	var b strings.Builder
	b.WriteString("      - name: " + name + "\n        branches: [main]\n        cluster: demo\n        service: web\n        container: web\n")
	for _, f := range fields {
		b.WriteString("        " + f + "\n")
	}
	return b.String()
}

// Web is a catalog document of service web with the environments.
func Web(environments ...string) string { return header + strings.Join(environments, "") }

// Parse parses Web(environments...), failing the test on a mistake.
func Parse(t testing.TB, environments ...string) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse([]byte(Web(environments...)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
