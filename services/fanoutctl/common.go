package fanoutctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/services/replicator"
)

// errHelp is returned after -h printed a command's flags: exit 0, nothing else to say.
var errHelp = errors.New("help shown")

// Which shared flags a command takes.
const (
	flagConfig = 1 << iota
	flagBrokers
	flagCluster
	flagTopic
	flagAdmin
	flagPrimary
	flagTarget
	flagOutput
)

// common holds the flags most commands share. The configuration is the replicator's
// (the same file a fanout-replicator runs with); flags override it.
type common struct {
	name    string // command name, for messages
	file    string
	brokers string
	cluster string
	topic   string
	admin   listFlag
	// adminTokenFile is --admin-token-file: the replicators' admin bearer token.
	adminTokenFile string
	primary        string
	target         string
	output         string
	strictEnv      bool
}

// listFlag is a flag that may be repeated and also takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func newFlagSet(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// -h asked for the flags: they go to stdout (fanoutctl status -h | less works) and
	// the exit is 0. A parse error is the caller's one line on stderr (usagef), not
	// the whole flag list, so flag itself prints nothing: see parseFlags.
	fs.SetOutput(e.stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fanoutctl %s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs: errHelp after -h printed the flags (to stdout),
// a usage error naming the cause otherwise.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return errHelp
	case err != nil:
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// register adds the shared flags named by which to fs.
func (c *common) register(fs *flag.FlagSet, which int) {
	c.name = fs.Name()
	if which&flagConfig != 0 {
		fs.StringVar(&c.file, "config", "", "the replicator's YAML configuration `file` (shared with fanout-replicator)")
		fs.BoolVar(&c.strictEnv, "strict-env", false, "refuse a FANOUT_* environment variable that names no configuration key (also FANOUT_STRICT_ENV=true)")
	}
	if which&flagBrokers != 0 {
		fs.StringVar(&c.brokers, "brokers", "", "Kafka seed `brokers`, comma-separated (kafka.brokers; default 127.0.0.1:9092)")
	}
	if which&flagCluster != 0 {
		fs.StringVar(&c.cluster, "cluster", "", "target cluster `name` (target.name): names the consumer group and the DLQ topic")
	}
	if which&flagTopic != 0 {
		fs.StringVar(&c.topic, "topic", "", "ops `topics`, comma-separated (consume.topics; default fanout.ops)")
	}
	if which&flagAdmin != 0 {
		fs.Var(&c.admin, "admin", "replicator admin `address` (host:port or URL of its admin.listen); repeat for several instances")
		fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "`file` with the replicators' admin bearer token (admin.token_file)")
	}
	if which&flagPrimary != 0 {
		fs.StringVar(&c.primary, "primary", "", "primary cluster `URLs`, comma-separated (env FANOUT_PRIMARY_*; default http://127.0.0.1:9201)")
	}
	if which&flagTarget != 0 {
		fs.StringVar(&c.target, "target", "", "target cluster `URLs`, comma-separated (target.endpoints)")
	}
	if which&flagOutput != 0 {
		fs.StringVar(&c.output, "o", "table", "output `format`: table or json")
	}
}

// parse parses a command's flags, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string, c *common) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected arguments: %s", fs.Name(), strings.Join(fs.Args(), " "))
	}
	if c != nil {
		switch c.output {
		case "table", "text", "json", "":
		default:
			return usagef("%s: -o must be table or json, got %q", fs.Name(), c.output)
		}
	}
	return nil
}

func (c *common) json() bool { return c.output == "json" }

// settings are the loaded configuration of a command.
type settings struct {
	cfg     replicator.Config
	primary cluster.Config
	// fromFile is set when a configuration file was given: its metrics_listen is then
	// the replicator's admin address.
	fromFile bool
}

// primaryEnvPrefix starts the environment variables that configure the primary. They
// are loaded apart from the replicator's configuration, over its primary.*, so that
// fanoutctl has a primary (the default one) even when the replicator's has none.
var primaryEnvPrefix = config.EnvName("primary.")

// load reads the replicator configuration: defaults < --config < FANOUT_* < flags.
// Errors are usage errors: nothing has been done yet.
func (c *common) load(e *env) (settings, error) {
	var s settings
	var repEnv, primEnv []string
	for _, kv := range e.environ {
		if strings.HasPrefix(kv, primaryEnvPrefix) {
			primEnv = append(primEnv, kv)
		} else {
			repEnv = append(repEnv, kv)
		}
	}
	flags := map[string]any{}
	list := func(key, v string) {
		var l listFlag
		_ = l.Set(v)
		if len(l) > 0 {
			flags[key] = []string(l)
		}
	}
	list("kafka.brokers", c.brokers)
	list("consume.topics", c.topic)
	list("target.endpoints", c.target)
	if c.cluster != "" {
		flags["target.name"] = c.cluster
	}
	// The two loads below read one environment: a FANOUT_STRICT_ENV or strict_env
	// meant for one is meant for both.
	strict, err := config.Strict(config.Sources{File: c.file, Environ: e.environ, StrictEnv: c.strictEnv})
	if err != nil {
		return s, usagef("%s: %v", c.name, err)
	}
	s.cfg = replicator.DefaultConfig()
	s.cfg.Kafka.ClientID = "fanoutctl"
	envWarnings, err := config.Load(&s.cfg, config.Sources{File: c.file, Environ: repEnv, Flags: flags, StrictEnv: strict})
	if err != nil {
		return s, usagef("%s: %v", c.name, err)
	}
	s.fromFile = c.file != ""
	if s.cfg.Kafka.ClientID == "fanout-replicator" {
		s.cfg.Kafka.ClientID = "fanoutctl"
	}
	if err := s.cfg.Kafka.Validate("kafka"); err != nil {
		return s, usagef("%s: config: %v", c.name, err)
	}
	if len(s.cfg.Consume.Topics) == 0 {
		return s, usagef("%s: config: consume.topics: at least one topic is required", c.name)
	}

	// The file's primary.* (the replicator resolves late events against it) is the
	// base; FANOUT_PRIMARY_* and --primary override it.
	prim := struct {
		Primary cluster.Config `koanf:"primary"`
	}{Primary: cluster.Config{Name: "primary", Endpoints: []string{"http://127.0.0.1:9201"}, Timeout: time.Minute}}
	if s.cfg.PrimaryEnabled() {
		prim.Primary = s.cfg.Primary
	}
	pflags := map[string]any{}
	var pl listFlag
	_ = pl.Set(c.primary)
	if len(pl) > 0 {
		pflags["primary.endpoints"] = []string(pl)
	}
	primWarnings, err := config.Load(&prim, config.Sources{Environ: primEnv, Flags: pflags, StrictEnv: strict})
	if err != nil {
		return s, usagef("%s: %v", c.name, err)
	}
	s.primary = prim.Primary
	warnInsecure(e, s, append(envWarnings, primWarnings...))
	return s, nil
}

// needCluster checks that a target name is known (flag or file) and valid.
func (c *common) needCluster(s settings) error {
	name := s.cfg.Target.Name
	if name == "" {
		return usagef("%s: --cluster is required (or target.name in --config)", c.name)
	}
	if strings.ContainsAny(name, " /\\\t\n") {
		return usagef("%s: --cluster %q must not contain spaces or slashes", c.name, name)
	}
	return nil
}

// adminURLs are the replicator admin addresses: --admin, else the admin.listen of
// the configuration file. None is fine: the admin state is then not shown.
func (c *common) adminURLs(s settings) ([]string, error) {
	var out []string
	for _, a := range c.admin {
		u, err := adminURL(a)
		if err != nil {
			return nil, usagef("%s: --admin: %v", c.name, err)
		}
		out = append(out, u)
	}
	if len(out) == 0 && s.fromFile && s.cfg.Admin.Listen != "" {
		u, err := adminURL(s.cfg.Admin.Listen)
		if err != nil {
			return nil, usagef("%s: config: admin.listen: %v", c.name, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// adminToken is the replicators' admin bearer token: the file of --admin-token-file,
// else of admin.token_file (configuration file or FANOUT_ADMIN_TOKEN_FILE); "" without
// either. An unreadable or empty file is a usage error naming where it came from.
func (c *common) adminToken(s settings) (string, error) {
	file, from := c.adminTokenFile, "--admin-token-file"
	if file == "" {
		file, from = s.cfg.Admin.TokenFile, "config: admin.token_file"
	}
	if file == "" {
		return "", nil
	}
	tok, err := replicator.ReadAdminToken(file)
	if err != nil {
		return "", usagef("%s: %s: %v", c.name, from, err)
	}
	return tok, nil
}

// adminURL turns host:port, :port or a URL into a base URL; an empty or wildcard host
// means this machine.
func adminURL(a string) (string, error) {
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("%q is not an http(s) URL", config.RedactURL(a))
		}
		return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || port == "" {
		return "", fmt.Errorf("%q is neither host:port nor a URL", a)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// kafkaClient connects to Kafka as the configuration says; extra options come last.
func kafkaClient(s settings, e *env, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := s.cfg.Kafka.Opts()
	if err != nil {
		return nil, usagef("config: %v", err)
	}
	opts = append(opts, e.deps.kafkaOpts...)
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka %s: %w", strings.Join(s.cfg.Kafka.Brokers, ","), err)
	}
	return cl, nil
}

func adminClient(s settings, e *env) (*kadm.Client, func(), error) {
	cl, err := kafkaClient(s, e)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// replicatorGroupPrefix starts the consumer groups of replicators (the default of
// consume.group), so that status can find every target without a configuration.
const replicatorGroupPrefix = "fanout-replicator-"

// groupOf is the replicator consumer group of a target: the configuration's group when
// it is about that target, else the default name.
func groupOf(s settings, cluster string) string {
	if s.cfg.Consume.Group != "" && s.cfg.Target.Name == cluster {
		return s.cfg.Consume.Group
	}
	return replicatorGroupPrefix + cluster
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
