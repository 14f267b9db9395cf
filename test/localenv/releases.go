package localenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localsvc"
	"github.com/stepship/stepship/test/world"
)

// startReleases seeds what the deploy pipeline needs beyond Seed's service:
// the lock and ledger table, the migrations bucket and the bake's alarm; a
// real PostgreSQL and the database's secret naming it; the health-check
// server and the catalog pointing at it; the default ECS script (every
// deployment completes) and the alarm history moto does not keep.
func (e *Env) startReleases(ctx context.Context, svcOpts []localsvc.Option, beforeDeploy bool) error {
	e.Releases = world.DemoReleases()
	if err := world.SeedReleases(ctx, e.AWS, e.Releases); err != nil {
		return fmt.Errorf("failed to seed the emulated account's releases: %w", err)
	}
	pg, err := localsvc.StartPostgres(ctx, svcOpts...)
	if err != nil {
		return err
	}
	e.started(pg.Close, pg)
	e.Postgres = pg
	e.BackupSpec = world.DemoBackups()
	if _, err := pg.CreateDatabase(ctx, e.BackupSpec.DBName); err != nil {
		return err
	}
	if _, _, err := world.SeedDatabase(ctx, e.AWS, e.BackupSpec, pg.Host, pg.Port); err != nil {
		return fmt.Errorf("failed to seed the emulated account's database: %w", err)
	}
	if e.Health, err = StartHealth(); err != nil {
		return err
	}
	e.started(e.Health.Close, nil)
	dir, err := os.MkdirTemp("", "stepship-localenv-")
	if err != nil {
		return fmt.Errorf("failed to create the local catalog's folder: %w", err)
	}
	e.started(func() error { return os.RemoveAll(dir) }, nil)
	e.Catalog = filepath.Join(dir, config.CatalogFileName)
	if err := writeLocalCatalog(filepath.Join(e.Root, config.CatalogFileName), e.Catalog, e.Health.URL(), beforeDeploy); err != nil {
		return err
	}
	e.ScriptECS(awsproxy.ECSScript{Region: Region, Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	// moto records no alarm history (FACTS.md): the proxy keeps it, for the
	// bake's check of the alarms.
	awsproxy.CloudWatchScript{Region: Region}.Install(e.Proxy)
	return nil
}

// writeLocalCatalog copies the catalog at from to to, with every health
// check's URL pointed at base (its path kept); with beforeDeploy, every
// backup also takes a snapshot before each deploy (backup.beforeDeploy).
// Nothing else changes.
func writeLocalCatalog(from, to, base string, beforeDeploy bool) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("failed to read the catalog: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("failed to parse the catalog: %w", err)
	}
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			if beforeDeploy && len(path) > 0 && path[len(path)-1] == "backup" {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "beforeDeploy"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				if k == "url" && len(path) >= 2 && path[len(path)-1] == "health" && path[len(path)-2] == "verify" && v.Kind == yaml.ScalarNode {
					if u, err := url.Parse(v.Value); err == nil {
						v.Value = base + u.Path
					}
					continue
				}
				walk(v, append(path, k))
			}
		}
	}
	walk(&doc, nil)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(to, out, 0o644)
}

// with returns a copy of env with one variable set.
func with(env map[string]string, k, v string) map[string]string {
	out := maps.Clone(env)
	out[k] = v
	return out
}

// ScriptECS replaces what the proxy makes ECS do (FACTS.md: moto's
// UpdateService starts no deployment): from now on, deployments and tasks
// follow s. Call it between deploys, not during one.
func (e *Env) ScriptECS(s awsproxy.ECSScript) {
	e.ecsMu.Lock()
	defer e.ecsMu.Unlock()
	if e.ecs != nil {
		e.ecs.Remove()
	}
	if s.Region == "" {
		s.Region = Region
	}
	e.ecs = s.Install(e.Proxy)
}

// Health is a local HTTP server answering a health check with the status
// it is set to (200 until Set), on every path.
type Health struct {
	srv    *http.Server
	ln     net.Listener
	status atomic.Int32
	hits   atomic.Int64
	wg     sync.WaitGroup
}

// StartHealth serves on a free loopback port until Close.
func StartHealth() (*Health, error) {
	ln, err := net.Listen("tcp", localsvc.Loopback+":0")
	if err != nil {
		return nil, fmt.Errorf("failed to start the health-check server: %w", err)
	}
	h := &Health{ln: ln}
	h.status.Store(http.StatusOK)
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.hits.Add(1)
		w.WriteHeader(int(h.status.Load()))
		fmt.Fprintln(w, http.StatusText(int(h.status.Load())))
	})}
	h.wg.Add(1)
	go func() { defer h.wg.Done(); _ = h.srv.Serve(ln) }()
	return h, nil
}

// URL is the server's base URL (http://127.0.0.1:PORT).
func (h *Health) URL() string { return "http://" + h.ln.Addr().String() }

// Set makes every later check answer status.
func (h *Health) Set(status int) { h.status.Store(int32(status)) }

// Hits is how many checks the server answered.
func (h *Health) Hits() int64 { return h.hits.Load() }

// Close stops the server.
func (h *Health) Close() error {
	err := h.srv.Close()
	h.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
