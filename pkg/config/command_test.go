package config_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
	"github.com/fanout-dev/fanout/pkg/config"
)

func TestCommand(t *testing.T) {
	var ran testConfig
	cmd := config.Command[testConfig]{
		Name:     "fanout-test",
		Defaults: defaults,
		Validate: func(c testConfig) error {
			if c.Listen == "" {
				return errors.New("listen: required")
			}
			return nil
		},
		Warnings: func(c testConfig) []config.Warning {
			if c.Debug {
				return []config.Warning{{Key: "debug", Message: "is on"}}
			}
			return nil
		},
		Flags: []config.Flag{
			{Name: "listen", Key: "listen", Usage: "listen address"},
			{Name: "brokers", Key: "kafka.brokers", Usage: "brokers", List: true},
		},
		Run: func(_ context.Context, c testConfig, _ io.Writer) error {
			ran = c
			if c.Listen == "fail" {
				return errors.New("boom")
			}
			return nil
		},
	}
	notRun := func(t *testing.T) {
		if ran.Listen != "" {
			t.Errorf("the command ran (with %+v)", ran)
		}
	}
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string
		stderr string
		check  func(t *testing.T)
	}{
		{name: "runs with flags", args: []string{"--listen", ":1", "--brokers", "x:1,y:2"}, code: 0, check: func(t *testing.T) {
			if ran.Listen != ":1" || strings.Join(ran.Kafka.Brokers, ",") != "x:1,y:2" {
				t.Errorf("ran with %+v", ran)
			}
		}},
		{name: "print config", args: []string{"--print-config"}, env: []string{"FANOUT_KAFKA_PASSWORD=pw"}, code: 0, stdout: "password: REDACTED"},
		{name: "print config shows warnings", args: []string{"--print-config"}, env: []string{"FANOUT_DEBUG=true"}, code: 0, stdout: "# WARNING debug: is on\n"},
		{name: "validation error", env: []string{"FANOUT_LISTEN="}, code: 2, stderr: "fanout-test: config: listen: required"},
		{name: "unknown env warns", env: []string{"FANOUT_LISTN=:1"}, code: 0,
			stderr: "fanout-test: warning: environment FANOUT_LISTN: names no configuration key and is ignored (did you mean FANOUT_LISTEN?); --strict-env makes this an error\n"},
		{name: "unknown env in print config", args: []string{"--print-config"}, env: []string{"FANOUT_LISTN=:1"}, code: 0,
			stdout: "# WARNING environment FANOUT_LISTN: names no configuration key and is ignored (did you mean FANOUT_LISTEN?)"},
		{name: "unknown env, --strict-env", args: []string{"--strict-env"}, env: []string{"FANOUT_LISTN=:1"}, code: 2,
			stderr: "fanout-test: config: unknown environment variable FANOUT_LISTN (did you mean FANOUT_LISTEN?)\n"},
		{name: "service links are ignored", args: []string{"--strict-env"}, env: []string{"FANOUT_PROXY_SERVICE_HOST=10.0.0.1", "FANOUT_PROXY_PORT=tcp://10.0.0.1:9200"}, code: 0},
		{name: "bad flag", args: []string{"--nope"}, code: 2, stderr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"extra"}, code: 2, stderr: "unexpected arguments: extra"},
		{name: "version", args: []string{"--version"}, code: 0, stdout: buildinfo.Get().Line("fanout-test") + "\n", check: notRun},
		// The configuration is not loaded: a broken one does not stop --version.
		{name: "version without a valid configuration", args: []string{"--version"}, env: []string{"FANOUT_LISTEN="}, code: 0,
			stdout: buildinfo.Get().Line("fanout-test") + "\n", check: notRun},
		{name: "version with a stray argument", args: []string{"--version", "extra"}, code: 2, stderr: "unexpected arguments: extra", check: notRun},
		{name: "help", args: []string{"-h"}, code: 0, stderr: "-print-config"},
		{name: "run failure", args: []string{"--listen", "fail"}, code: 1, stderr: "fanout-test: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			ran = testConfig{}
			code := cmd.Main(context.Background(), tt.args, tt.env, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("stdout %q, stderr %q; want %q / %q", out.String(), errb.String(), tt.stdout, tt.stderr)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}
