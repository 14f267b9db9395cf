package catalog_test

import (
	"fmt"

	"github.com/stepship/stepship/shared/catalog"
)

func ExampleCatalog_Match() {
	c, err := catalog.Parse([]byte(`
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments:
      - name: production
        tags: ["v*"]
        cluster: stepship-demo
        service: web
        container: web
      - name: staging
        branches: [main, "release/*"]
        cluster: stepship-staging
        service: web
        container: web
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ref := range []string{"refs/heads/main", "refs/heads/release/2.1", "refs/tags/v2.1.0", "refs/heads/feature/x"} {
		for _, t := range c.Match("github", "acme/web", ref) {
			fmt.Println(ref, "→", t.Service, t.Environment, t.Image.At("sha256:3f2a9c1"))
		}
	}
	// Output:
	// refs/heads/main → web staging 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:3f2a9c1
	// refs/heads/release/2.1 → web staging 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:3f2a9c1
	// refs/tags/v2.1.0 → web production 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:3f2a9c1
}

func ExampleParse_error() {
	_, err := catalog.Parse([]byte(`
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: codebuild, project: web-build}
    environments:
      - name: production
        branches: [main]
        service: web
        container: web
`))
	fmt.Println(err)
	// Output:
	// catalog: services[web].environments[production].cluster: required
}
