package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

const passMachine = `{"Comment":"x","StartAt":"P","States":{"P":{"Type":"Pass","Result":"${Greeting}","End":true}}}`

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.asl.json"), []byte(passMachine), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `{"region":"us-east-1","timeScale":1000,"awsIntegrations":false,
	  "stateMachines":[{"name":"hello","file":"hello.asl.json","definitionSubstitutions":{"Greeting":"hi"}}],
	  "lambdas":{"deploy":"http://127.0.0.1:9001"}}`
	p := filepath.Join(dir, "sfnlocal.json")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func client(url string) *sfn.Client {
	return sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		func(o *sfn.Options) { o.BaseEndpoint = aws.String(url) })
}

func readyURL(t *testing.T, r io.Reader) string {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "sfnlocal ready on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("ready line %q", line)
	}
	return url
}

func TestRunServesConfiguredMachines(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-config", writeConfig(t)}, pw, io.Discard) }()
	url := readyURL(t, pr)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	out, err := client(url).DescribeStateMachine(context.Background(), &sfn.DescribeStateMachineInput{
		StateMachineArn: aws.String("arn:aws:states:us-east-1:123456789012:stateMachine:hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(out.Definition), `"Result":"hi"`) {
		t.Fatalf("substitution not applied: %s", aws.ToString(out.Definition))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown")
	}
}

func TestRunRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:0"},
		{"-addr", "127.0.0.1:0", "-config", "/nonexistent.json"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	_ = os.WriteFile(p, []byte(`{"stateMachines":[{"name":"x","definition":{"StartAt":"${Missing}"}}],"awsIntegrations":false}`), 0o644)
	if err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-config", p}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "${Missing}") {
		t.Errorf("missing substitution: %v", err)
	}
}

// TestBinarySignals builds the command and stops it with SIGTERM, as a harness does.
func TestBinarySignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sfnlocal")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-config", writeConfig(t))
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		url := readyURL(t, stdout)
		if _, err := client(url).ListStateMachines(context.Background(), &sfn.ListStateMachinesInput{}); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Signal(sig)
		errc := make(chan error, 1)
		go func() { errc <- cmd.Wait() }()
		select {
		case err := <-errc:
			var ee *exec.ExitError
			if errors.As(err, &ee) || err != nil {
				t.Fatalf("%v: exit %v", sig, err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v: did not stop", sig)
		}
	}
}
