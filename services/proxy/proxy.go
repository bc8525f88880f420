// Package proxy is fanout's ingest proxy: clients talk to it as to their primary
// search cluster. It forwards every request to the primary and, for each write the
// primary accepted, publishes one event built from the primary's answer to Kafka
// before the client hears "ok" (DESIGN.md principles 1, 5 and 7).
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/pkg/adminhttp"
	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/pkg/intentlog"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Deps are what the proxy gets from its caller rather than from configuration.
type Deps struct {
	Logger *slog.Logger
	// Registry receives the proxy's metrics and is served on /metrics; nil makes one.
	Registry *prometheus.Registry
	// Listener and MetricsListener, when set, are used instead of cfg.Listen and
	// cfg.MetricsListen (tests and the dev stack pass 127.0.0.1:0 listeners).
	Listener        net.Listener
	MetricsListener net.Listener
	// AdminListener, when set, is used instead of cfg.Admin.Listen.
	AdminListener net.Listener
	// KafkaOpts are added to the producer's options (tests shorten timeouts).
	KafkaOpts []kgo.Opt
	// Now is the clock for accepted times; nil means time.Now.
	Now func() time.Time
}

// Proxy is the ingest proxy engine.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	reg      *prometheus.Registry
	primary  *opensearch.Client
	fallback *opensearch.Client // nil without fallback endpoints
	ownAuth  bool               // auth.mode proxy: the proxy's own primary credentials replace the client's
	auth     *authenticator     // proxy mode only
	strip    []string           // identity headers removed from clients' requests
	passXFF  bool               // the client's X-Forwarded-For is kept (auth.pass_headers)
	tls      *tlsReloader       // nil without tls.cert_file
	kafka    *kgo.Client
	pub      *publisher
	spool    *spooler // nil without spool.dir (spool.go)
	sem      chan struct{}
	budget   *budget // limits.max_inflight_bytes
	// bodyBlocks are the blocks long request bodies are read into (fill).
	bodyBlocks *sync.Pool
	now        func() time.Time

	// meta publishes metadata changes, transactionally (metapublish.go).
	meta *metaPublisher
	// metaMu orders metadata changes with document writes: writes hold it shared,
	// changes exclusively (metadata.go).
	metaMu sync.RWMutex
	// metaGen counts metadata changes, moved under metaMu held exclusively: recovery
	// (recoverBatch) tells by it that a change ran while it looked documents up.
	metaGen atomic.Uint64

	// unreplicated counts and logs passed-through requests that look like writes.
	unreplicated *unreplicatedWrites
	// stored reads written documents back when the request's may not be what the
	// primary stored (stored.go).
	stored *storedReader
	// aliasRouting knows the index_routing of the aliases writes go through.
	aliasRouting *aliasRoutes

	// Crash recovery (intent.go, recovery.go): nil intents when recovery.dir is "".
	intents   *intentlog.Log
	leftOpen  []intentlog.Intent // found open at start, resolved by recover
	ids       *idGenerator
	orphans   *orphans // this process's intents not ended by their requests
	recovered atomic.Bool

	ln, metricsLn net.Listener
	admin         *telemetry.Server
	adminLn       net.Listener // /debug/pprof/ behind adminMux's guard; nil when off
	adminMux      http.Handler
	primaryOK     atomic.Bool
	primaryVer    atomic.Pointer[learnedVersion] // nil until learned (primaryversion.go)
	versionUnread atomic.Bool                    // the probe's last GET / answer had no version
	draining      atomic.Bool
}

// New validates cfg, builds the clients and binds the listeners; Run serves.
func New(cfg Config, deps Deps) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, log: deps.Logger, reg: deps.Registry, now: deps.Now,
		sem: make(chan struct{}, cfg.Limits.MaxConcurrentRequests), bodyBlocks: newBodyBlocks(), ownAuth: cfg.Auth.Mode == AuthProxy,
		strip: cfg.Auth.stripped(), passXFF: containsFold(cfg.Auth.PassHeaders, "X-Forwarded-For")}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.ownAuth {
		var err error
		if p.auth, err = newAuthenticator(cfg.Auth, p.log); err != nil {
			return nil, err
		}
	}
	if p.reg == nil {
		p.reg = telemetry.NewRegistry()
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.m = newMetrics(p.reg)
	p.unreplicated = newUnreplicatedWrites(p.reg, p.log, p.now)
	p.stored = newStoredReader(cfg.Publish, p.reg, p.now)
	p.aliasRouting = newAliasRoutes(cfg.Publish, p.reg, p.now)
	config.LogWarnings(p.log, cfg.Warnings())
	p.budget = newBudget(cfg.Limits.MaxInflightBytes, cfg.Limits.InflightWait, p.m.inflightBytes)

	if err := p.openRecovery(); err != nil {
		return nil, err
	}
	var err error
	if p.primary, err = cluster.New(cfg.Primary); err != nil {
		p.closeClients()
		return nil, fmt.Errorf("primary: %w", err)
	}
	if len(cfg.Fallback.Endpoints) > 0 {
		if p.fallback, err = cluster.New(cfg.Fallback); err != nil {
			_ = p.primary.Close()
			return nil, fmt.Errorf("fallback: %w", err)
		}
	}
	if err := p.connect(deps); err != nil {
		p.closeClients()
		return nil, err
	}
	return p, nil
}

// connect builds the Kafka producer, binds the listeners and wires readiness.
func (p *Proxy) connect(deps Deps) error {
	cfg := p.cfg
	conn, err := cfg.Kafka.Opts()
	if err != nil {
		return err
	}
	prod, err := producerOpts(cfg.Publish)
	if err != nil {
		return err
	}
	opts := append(append(conn, prod...), deps.KafkaOpts...)
	if p.kafka, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	p.pub = &publisher{cl: p.kafka, timeout: cfg.Publish.Timeout, m: p.m, records: newRecordPool()}
	if cfg.Spool.Dir != "" {
		if p.spool, err = openSpool(cfg, p.pub, p.reg, p.log, p.now); err != nil {
			return err
		}
	}
	if p.meta, err = newMetaPublisher(conn, cfg.Publish, deps.KafkaOpts); err != nil {
		return err
	}

	if cfg.TLS.Enabled() {
		if p.tls, err = newTLSReloader(cfg.TLS, p.log); err != nil {
			return err
		}
	}
	p.ln, p.metricsLn = deps.Listener, deps.MetricsListener
	if p.ln == nil {
		if p.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	if p.tls != nil {
		p.ln = tls.NewListener(p.ln, p.tls.listenerConfig())
	}
	if p.metricsLn == nil && cfg.MetricsListen != "" {
		if p.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
	}
	p.adminLn = deps.AdminListener
	if p.adminLn == nil && cfg.Admin.Listen != "" {
		if p.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	if p.adminLn != nil {
		var token string
		if cfg.Admin.TokenFile != "" {
			if token, err = adminhttp.ReadToken(cfg.Admin.TokenFile); err != nil {
				return fmt.Errorf("admin.token_file: %w", err)
			}
		}
		mux := http.NewServeMux()
		adminhttp.HandlePprof(mux)
		p.adminMux = adminhttp.NewGuard(token, "fanout-proxy admin", "admin.token_file").Wrap(mux)
	}
	p.admin = telemetry.NewServer(p.reg, p.log)
	p.admin.AddCheck("draining", func(context.Context) error {
		if p.draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
	p.admin.AddCheck("primary", func(context.Context) error {
		if !p.primaryOK.Load() {
			return errors.New("primary cluster not reachable")
		}
		return nil
	})
	p.admin.AddCheck("kafka", func(ctx context.Context) error {
		err := p.kafka.Ping(ctx)
		if err != nil && p.spool != nil && p.spool.full() == "" {
			return nil // the spool takes the events until Kafka is back
		}
		return err
	})
	p.admin.AddCheck("recovery", func(context.Context) error {
		if !p.recovered.Load() {
			return errors.New("resolving the writes a previous proxy left unconfirmed (recovery.dir)")
		}
		return nil
	})
	return nil
}

// closeClients releases what New built when it fails half-way.
func (p *Proxy) closeClients() {
	if p.kafka != nil {
		p.kafka.Close()
	}
	if p.meta != nil {
		p.meta.close()
	}
	if p.spool != nil {
		p.spool.close(0)
	}
	if p.ln != nil {
		_ = p.ln.Close()
	}
	if p.metricsLn != nil {
		_ = p.metricsLn.Close()
	}
	if p.adminLn != nil {
		_ = p.adminLn.Close()
	}
	if p.primary != nil {
		_ = p.primary.Close()
	}
	if p.fallback != nil {
		_ = p.fallback.Close()
	}
	if p.intents != nil {
		_ = p.intents.Close()
	}
}

// URL is where clients reach the proxy.
func (p *Proxy) URL() string {
	u := telemetry.Addr(p.ln)
	if p.tls != nil {
		u = "https://" + strings.TrimPrefix(u, "http://")
	}
	return u
}

// Reload re-reads the files the proxy serves from: the listener's certificate, key and
// client CAs, and the proxy mode's users and API keys files (the command calls it on
// SIGHUP; changed files are also picked up by themselves within a second). A file that
// cannot be loaded keeps its previous content; the error says which.
func (p *Proxy) Reload() error {
	var errs []error
	if p.tls != nil {
		if err := p.tls.Reload(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.auth != nil {
		errs = append(errs, p.auth.reloadAll()...)
	}
	return errors.Join(errs...)
}

// MetricsURL is where /metrics, /healthz and /readyz are served, "" if nowhere.
func (p *Proxy) MetricsURL() string {
	if p.metricsLn == nil {
		return ""
	}
	return telemetry.Addr(p.metricsLn)
}

// AdminURL is where /debug/pprof/ is served, "" if nowhere.
func (p *Proxy) AdminURL() string {
	if p.adminLn == nil {
		return ""
	}
	return telemetry.Addr(p.adminLn)
}

// Handler serves the proxy's client API (for tests that skip the listener).
func (p *Proxy) Handler() http.Handler { return http.HandlerFunc(p.serveHTTP) }

// Run serves until ctx is done, then drains: readiness goes false, new connections
// are refused, in-flight requests finish (within limits.shutdown_timeout) and the
// producer flushes.
func (p *Proxy) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		ReadHeaderTimeout: p.cfg.Limits.ReadHeaderTimeout,
		// Bodies have their own deadline (limits.body_timeout, set per request as
		// bytes arrive); ReadTimeout would bound a whole body by one fixed time.
		IdleTimeout:    p.cfg.Limits.IdleTimeout,
		MaxHeaderBytes: p.cfg.Limits.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("proxy server: %w", err)
		}
		return nil
	})
	if p.metricsLn != nil {
		g.Go(func() error { return p.admin.Run(gctx, "", p.metricsLn) })
	}
	if p.adminLn != nil {
		g.Go(func() error { return adminhttp.Serve(gctx, p.adminLn, p.adminMux) })
	}
	g.Go(func() error { p.probePrimary(gctx); return nil })
	recovering := make(chan struct{})
	g.Go(func() error { defer close(recovering); p.recover(gctx); return nil })
	if p.spool != nil {
		p.spool.start() // at once: a spool left non-empty by the last run drains now
	}
	g.Go(func() error {
		<-gctx.Done()
		return p.shutdown(srv, recovering)
	})
	p.log.Info("fanout-proxy serving", "listen", p.URL(), "metrics", p.MetricsURL(),
		"primary", config.RedactURLs(p.cfg.Primary.Endpoints), "topic", p.cfg.Publish.Topic, "auth_mode", p.cfg.Auth.Mode, "tls", p.tls != nil)
	if p.tls == nil && allInterfaces(p.ln.Addr()) {
		p.log.Warn("SECURITY: the client listener accepts connections on EVERY network interface WITHOUT TLS: "+
			"credentials and documents cross the network in clear text, readable and changeable by anyone on the path. "+
			"Set tls.cert_file and tls.key_file, or bind listen to 127.0.0.1 or a private address",
			"listen", p.ln.Addr().String())
	}
	return g.Wait()
}

// shutdown stops in order: the requests in flight finish, then recovery (recovering
// is closed once it has returned: a batch it was publishing is spooled or acknowledged,
// and its intents closed, before the spool, the producer and the intent log close),
// then the spool drains, the producer flushes and the intent log closes.
func (p *Proxy) shutdown(srv *http.Server, recovering <-chan struct{}) error {
	p.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Limits.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		p.log.Warn("in-flight requests did not finish before the shutdown timeout", "error", err)
		_ = srv.Close()
	}
	// Its lookups stop with the context; a publish it began is bounded by
	// publish.timeout (spool.kafka_wait with a spool).
	select {
	case <-recovering:
	case <-ctx.Done():
		p.log.Warn("recovery did not stop before the shutdown timeout; its open intents are resolved at the next start")
	}
	if p.spool != nil {
		// No write is in flight now: drain what is spooled, or leave it on disk.
		p.spool.close(p.cfg.Spool.DrainTimeout)
	}
	if ferr := p.kafka.Flush(ctx); ferr != nil {
		p.log.Error("events still buffered at shutdown", "error", ferr, "buffered", p.kafka.BufferedProduceRecords())
	}
	p.kafka.Close()
	p.meta.close()
	if p.intents != nil {
		// Intents still open stay on disk for the next start.
		if err := p.intents.Close(); err != nil {
			p.log.Error("closing the intent log", "error", err)
		}
	}
	// The cluster clients poll node stats and health in the background until closed.
	_ = p.primary.Close()
	if p.fallback != nil {
		_ = p.fallback.Close()
	}
	p.log.Info("fanout-proxy stopped")
	return nil
}

// probePrimary keeps primaryOK current for /readyz.
func (p *Proxy) probePrimary(ctx context.Context) {
	t := time.NewTicker(p.cfg.Limits.ReadinessInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, "/", nil)
		resp, err := p.primary.Perform(req)
		up := err == nil && resp.StatusCode < 500
		if resp != nil {
			p.probeVersion(resp)
			resp.Body.Close()
		}
		cancel()
		p.primaryOK.Store(up)
		if up {
			p.m.primaryUp.Set(1)
		} else {
			p.m.primaryUp.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveHTTP admits, routes and accounts for one request.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt := classify(r, p.version())
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		p.m.requests.WithLabelValues(rt.name, strconv.Itoa(sw.code())).Inc()
		p.m.requestSeconds.WithLabelValues(rt.name).Observe(time.Since(start).Seconds())
	}()
	if p.draining.Load() && (rt.write || rt.unresolved || rt.byQuery != 0 || rt.meta != metaNone) {
		writeError(sw, r, http.StatusServiceUnavailable, errShuttingDown, "fanout-proxy is shutting down; retry on another instance")
		return
	}
	// The body first, within the memory budget, and only then a concurrency slot: a
	// client sending slowly holds its few bytes, not a slot others need.
	res := reservation{b: p.budget}
	defer res.release()
	body, ok := p.readBody(sw, r, rt, &res)
	if !ok {
		return
	}
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	default:
		p.m.rejected.WithLabelValues("concurrency").Inc()
		retryLater(sw, time.Second)
		writeError(sw, r, http.StatusTooManyRequests, errRejected,
			fmt.Sprintf("fanout-proxy is serving its maximum of [%d] concurrent requests (limits.max_concurrent_requests)", cap(p.sem)))
		return
	}
	p.m.inflight.Inc()
	defer p.m.inflight.Dec()
	if p.auth != nil {
		if _, fail := p.auth.check(r); fail != nil {
			// Nothing reaches the primary, and nothing is published.
			p.m.authRejected.WithLabelValues(fail.kind).Inc()
			p.auth.refuse(sw, r, fail)
			return
		}
	}
	if rt.unresolved {
		v, ve := p.learnVersion(r)
		if ve != nil {
			p.refuseUnversioned(sw, r, ve)
			return
		}
		rt = classify(r, v)
	}
	if rt.byQuery != 0 {
		p.serveByQuery(sw, r, rt, body)
		return
	}
	if rt.write {
		p.serveWrite(sw, r, rt, body, &res)
		return
	}
	if rt.meta != metaNone {
		p.serveMetadata(sw, r, rt, body)
		return
	}
	if isNodesInfo(r) {
		p.serveNodesInfo(sw, r, rt)
		return
	}
	p.passthrough(sw, r, rt, body)
	p.unreplicated.observe(r, sw.code())
	if p.stored.observe(r) {
		p.aliasRouting.forget()
	}
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
