package function

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/config"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.yaml")
	doc := "version: 1\nservices:\n  - name: web\n    repository: {provider: github, name: acme/web}\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web\n    build: {mode: prebuilt}\n    environments:\n      - {name: production, branches: [main], cluster: c, service: s, container: c}\n"
	if err := os.WriteFile(cat, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	env := map[string]string{config.EnvCatalog: cat, "AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
	e, err := Load(func(k string) string { return env[k] }, log)
	if err != nil || e.AWS.Region != "us-west-2" || len(e.Catalog.Services) != 1 || e.Log != log {
		t.Fatalf("Load = %+v, %v", e, err)
	}
	delete(env, "AWS_REGION")
	if _, err := Load(func(k string) string { return env[k] }, log); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("without a region: %v", err)
	}
	env[config.EnvCatalog] = filepath.Join(dir, "missing.yaml")
	if _, err := Load(func(k string) string { return env[k] }, log); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("without a catalog: %v", err)
	}
}
