// Command sfnlocal runs the local Step Functions service:
//
//	go run ./scripts/sfnlocal -addr 127.0.0.1:8083 -config sfnlocal.json
//
// It creates the configured state machines, prints one line
// "sfnlocal ready on http://127.0.0.1:PORT" when it accepts connections (port 0
// picks a free port), and shuts down cleanly on SIGINT or SIGTERM. Point an SDK at it
// with AWS_ENDPOINT_URL_SFN. The config format is in test/sfnlocal/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sfnlocal:", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sfnlocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8083", "loopback address to listen on (port 0 picks a free port)")
	configPath := fs.String("config", "", "configuration file (JSON, see test/sfnlocal/README.md); empty: no state machines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	cfg := &server.Config{}
	if *configPath != "" {
		var err error
		if cfg, err = server.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	s, err := server.NewFromConfig(ctx, cfg)
	if err != nil {
		return err
	}
	s.SetLogger(slog.New(slog.NewJSONHandler(stderr, nil)))
	if err := s.Listen(*addr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sfnlocal ready on %s\n", s.URL())
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// checkLoopback refuses to serve beyond this machine: the service checks no signature.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: listen on a loopback address (127.0.0.1 or [::1]); this service checks no credentials", addr)
	}
	return nil
}
