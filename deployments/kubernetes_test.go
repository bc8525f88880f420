package deployments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/replicator"
)

const (
	kubeDir = "kubernetes"
	crdDir  = "kubernetes/crds"
)

// The example overlays: each is rendered and checked as a whole.
var overlays = []string{"staging", "production"}

// builtin are the kinds the overlays may hold that Kubernetes itself serves, each with
// its typed API struct: decoding into it is what the API server's strict field
// validation does.
var builtin = map[string]func() any{
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                      func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                     func() any { return new(appsv1.Deployment) },
	"batch/v1/Job":                           func() any { return new(batchv1.Job) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return new(networkingv1.NetworkPolicy) },
}

// object is one rendered manifest: its JSON, and its typed form for built-in kinds
// (custom resources keep their generic form, checked against their CRD's schema).
type object struct {
	gvk, name string
	raw       []byte
	typed     any
	generic   map[string]any
}

// render builds an overlay with kustomize's own API, as `kubectl apply -k` would, and
// decodes each object strictly (see decodeObject).
func render(t tb, crds *crdSchemas, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, res := range m.Resources() {
		raw, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		o, err := decodeObject(raw, crds)
		if err != nil {
			t.Fatalf("overlay %s: %v", dir, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// decodeObject decodes one rendered object strictly: an unknown or duplicate field
// (case-sensitive, as the API server reads it) is an error, and so is a custom
// resource its CRD's schema refuses.
func decodeObject(raw []byte, crds *crdSchemas) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return object{}, err
	}
	o := object{gvk: head.APIVersion + "/" + head.Kind, name: head.Metadata.Name, raw: raw}
	where := o.gvk + " " + o.name
	if o.name == "" {
		return o, fmt.Errorf("%s: no metadata.name", o.gvk)
	}
	if mk, ok := builtin[o.gvk]; ok {
		o.typed = mk()
		if err := strictJSON(raw, o.typed); err != nil {
			return o, fmt.Errorf("%s: %w", where, err)
		}
		return o, nil
	}
	sch, ok := crds.schemas[o.gvk]
	if !ok {
		return o, fmt.Errorf("%s: no API type or CRD schema for kind %s", where, o.gvk)
	}
	// A CRD's schema says nothing of metadata beyond "object": the API server decodes
	// it as ObjectMeta, strictly.
	var meta struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &meta)
	if err := strictJSON(meta.Metadata, new(metav1.ObjectMeta)); err != nil {
		return o, fmt.Errorf("%s: metadata: %w", where, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return o, fmt.Errorf("%s: %w", where, err)
	}
	if err := sch.Validate(inst); err != nil {
		return o, fmt.Errorf("%s: refused by its CRD's schema: %v", where, err)
	}
	if err := json.Unmarshal(raw, &o.generic); err != nil {
		return o, err
	}
	return o, nil
}

// strictJSON decodes as the API server's strict field validation does.
func strictJSON(raw []byte, dst any) error {
	strict, err := k8sjson.UnmarshalStrict(raw, dst, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return fmt.Errorf("strict decoding: %w", strict[0])
	}
	return nil
}

// crdSchemas holds the served versions' OpenAPI schemas of the vendored CRDs, keyed by
// apiVersion/kind, compiled with unknown fields refused.
type crdSchemas struct {
	schemas map[string]*jsonschema.Schema
}

func loadCRDs(t *testing.T) *crdSchemas {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", crdDir, err)
	}
	c := &crdSchemas{schemas: map[string]*jsonschema.Schema{}}
	comp := jsonschema.NewCompiler()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Group string `yaml:"group"`
				Names struct {
					Kind string `yaml:"kind"`
				} `yaml:"names"`
				Versions []struct {
					Name   string `yaml:"name"`
					Served bool   `yaml:"served"`
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(b, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
			t.Fatalf("%s: not a CustomResourceDefinition: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			doc, err := jsonDoc(refuseUnknown(v.Schema.OpenAPIV3Schema))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			gvk := crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Kind
			url := "crd:///" + strings.ReplaceAll(gvk, "/", "_") + ".json"
			if err := comp.AddResource(url, doc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			sch, err := comp.Compile(url)
			if err != nil {
				t.Fatalf("%s %s: compiling its schema: %v", f, v.Name, err)
			}
			c.schemas[gvk] = sch
		}
	}
	return c
}

// refuseUnknown makes a CRD schema refuse what the API server's strict field
// validation refuses: a field an object schema does not list, unless the schema keeps
// unknown fields or describes a map (additionalProperties).
func refuseUnknown(s map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "properties", "patternProperties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = refuseUnknown(p.(map[string]any))
			}
			out[k] = props
		case "items", "additionalProperties", "not":
			if m, ok := v.(map[string]any); ok {
				out[k] = refuseUnknown(m)
			} else {
				out[k] = v
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, e := range v.([]any) {
				list = append(list, refuseUnknown(e.(map[string]any)))
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	_, props := s["properties"]
	_, extra := s["additionalProperties"]
	keep, _ := s["x-kubernetes-preserve-unknown-fields"].(bool)
	if props && !extra && !keep {
		out["additionalProperties"] = false
	}
	return out
}

// jsonDoc turns a YAML-decoded value into what the jsonschema package reads (JSON
// numbers), by a JSON round trip.
func jsonDoc(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// rendered is one overlay's objects, by kind.
type rendered struct {
	objects     []object
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	policies    []*networkingv1.NetworkPolicy
	custom      map[string][]object // by kind
}

func renderOverlay(t tb, crds *crdSchemas, root, name string) *rendered {
	t.Helper()
	objs := render(t, crds, filepath.Join(root, "overlays", name))
	r := &rendered{objects: objs, configMaps: map[string]*corev1.ConfigMap{}, custom: map[string][]object{}}
	for _, o := range objs {
		switch v := o.typed.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, v)
		case *batchv1.Job:
			r.jobs = append(r.jobs, v)
		case *corev1.Service:
			r.services = append(r.services, v)
		case *corev1.ConfigMap:
			r.configMaps[v.Name] = v
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, v)
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, v)
		case nil:
			kind := o.gvk[strings.LastIndex(o.gvk, "/")+1:]
			r.custom[kind] = append(r.custom[kind], o)
		}
	}
	return r
}

// TestKubernetesOverlays renders each example overlay and checks what an operator
// would otherwise learn from a failed rollout.
func TestKubernetesOverlays(t *testing.T) {
	crds := loadCRDs(t)
	for _, name := range overlays {
		t.Run(name, func(t *testing.T) {
			checkOverlay(t, crds, kubeDir, name)
		})
	}
}

func checkOverlay(t tb, crds *crdSchemas, root, name string) {
	r := renderOverlay(t, crds, root, name)
	t.Logf("%d objects", len(r.objects))
	checkNamespaced(t, r)
	images := imageNames(t)
	for _, d := range r.deployments {
		checkPod(t, images, d.Name, &d.Spec.Template.Spec)
	}
	for _, j := range r.jobs {
		checkPod(t, images, j.Name, &j.Spec.Template.Spec)
	}
	partitions, clusters := checkTopicsJob(t, r)
	checkProxy(t, r)
	targets := checkReplicators(t, r, partitions)
	slices.Sort(clusters)
	if !slices.Equal(clusters, targets) {
		t.Errorf("the topics Job creates the DLQ topics of %v, the replicators' targets are %v", clusters, targets)
	}
	checkSelectorsDisjoint(t, r)
	checkServiceMonitor(t, r)
}

func checkNamespaced(t tb, r *rendered) {
	for _, o := range r.objects {
		var m struct {
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(o.raw, &m)
		if m.Metadata.Namespace == "" {
			t.Errorf("%s %s: no namespace (the overlay sets one)", o.gvk, o.name)
		}
	}
}

// checkPod: the security context, resources and environment every fanout pod has.
func checkPod(t tb, images map[string]bool, owner string, spec *corev1.PodSpec) {
	t.Helper()
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks is not false", owner)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false (no fanout service calls the Kubernetes API)", owner)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: the pod does not run as a non-root user", owner)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: no RuntimeDefault seccomp profile", owner)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range spec.Containers {
		where := owner + "/" + c.Name
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem not read-only", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: privilege escalation allowed", where)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: privileged", where)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
			t.Errorf("%s: capabilities not dropped (drop: [ALL])", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				t.Errorf("%s: no %s request", where, res)
			}
		}
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.Cmp(c.Resources.Requests[corev1.ResourceMemory]) < 0 {
			t.Errorf("%s: no memory limit at or above its request", where)
		}
		checkImage(t, images, where, c.Image)
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s: mounts volume %q, which the pod does not have", where, m.Name)
			}
		}
	}
}

// checkImage: an image of one of the Dockerfile's targets, at a pinned tag.
func checkImage(t tb, images map[string]bool, where, image string) {
	t.Helper()
	repo, tag, ok := strings.Cut(path.Base(image), ":")
	if !images[repo] {
		t.Errorf("%s: image %s is none of the Dockerfile's targets %v", where, image, slices.Sorted(maps.Keys(images)))
	}
	if !ok || tag == "" || tag == "latest" {
		t.Errorf("%s: image %s has no pinned tag", where, image)
	}
}

func findContainer(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

// mountedConfig returns the file a container's --config names, read from the
// ConfigMap mounted there, written to a temporary file for the service's own loader.
func mountedConfig(t tb, r *rendered, spec *corev1.PodSpec, c *corev1.Container) string {
	t.Helper()
	file := flagValue(c.Args, "--config")
	if file == "" {
		t.Fatalf("%s: no --config argument in %v", c.Name, c.Args)
	}
	v, _ := mountOf(spec, c, file)
	if v == nil || v.ConfigMap == nil {
		t.Fatalf("%s: --config %s is not in a mounted ConfigMap", c.Name, file)
	}
	cm, ok := r.configMaps[v.ConfigMap.Name]
	if !ok {
		t.Fatalf("%s: ConfigMap %s is not in the overlay", c.Name, v.ConfigMap.Name)
	}
	data, ok := cm.Data[path.Base(file)]
	if !ok {
		t.Fatalf("%s: ConfigMap %s has no key %s", c.Name, cm.Name, path.Base(file))
	}
	local := filepath.Join(t.TempDir(), c.Name+"-"+path.Base(file))
	if err := os.WriteFile(local, []byte(data), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	return local
}

// mountOf is the volume (and its mount) holding file in container c.
func mountOf(spec *corev1.PodSpec, c *corev1.Container, file string) (*corev1.Volume, *corev1.VolumeMount) {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return nil, nil
	}
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == best.Name {
			return &spec.Volumes[i], best
		}
	}
	return nil, best
}

// checkSecretFiles: every credential file the configuration names is in a mounted
// Secret (with the key, where the volume lists its items).
func checkSecretFiles(t tb, where string, spec *corev1.PodSpec, c *corev1.Container, files map[string]string) {
	t.Helper()
	for key, file := range files {
		if file == "" {
			continue
		}
		v, m := mountOf(spec, c, file)
		switch {
		case v == nil:
			t.Errorf("%s: %s %s is in no mounted volume", where, key, file)
		case v.Secret == nil:
			t.Errorf("%s: %s %s is in volume %s, not a Secret", where, key, file, v.Name)
		case len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool {
			return path.Join(m.MountPath, it.Path) == file
		}):
			t.Errorf("%s: %s %s is not among the items of Secret %s", where, key, file, v.Secret.SecretName)
		}
	}
}

// checkWritable: a directory the service writes is on a writable volume (the root
// filesystem is read-only).
func checkWritable(t tb, where string, spec *corev1.PodSpec, c *corev1.Container, key, dir string) {
	t.Helper()
	if dir == "" {
		return
	}
	v, m := mountOf(spec, c, dir+"/x")
	if v == nil || v.EmptyDir == nil && v.PersistentVolumeClaim == nil || m.ReadOnly {
		t.Errorf("%s: %s %s is not on a writable volume", where, key, dir)
	}
}

// checkPorts: the listeners are on every interface of the pod, on the named
// container ports the probes and Services use.
func checkPort(t tb, where string, c *corev1.Container, key, addr, portName string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" && host != "0.0.0.0" {
		t.Errorf("%s: %s %q: want :PORT, every interface of the pod", where, key, addr)
		return
	}
	n, _ := strconv.Atoi(port)
	for _, p := range c.Ports {
		if p.Name == portName {
			if int(p.ContainerPort) != n {
				t.Errorf("%s: container port %s is %d, %s listens on %d", where, portName, p.ContainerPort, key, n)
			}
			return
		}
	}
	t.Errorf("%s: no container port named %s (%s %s)", where, portName, key, addr)
}

func checkProbes(t tb, where string, c *corev1.Container) {
	t.Helper()
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("%s: %s is not GET %s on the metrics port", where, p.name, p.path)
		}
	}
}

// checkGraceK: Kubernetes waits terminationGracePeriodSeconds after SIGTERM before it
// kills: it must cover the service's own shutdown bound.
func checkGraceK(t tb, where string, spec *corev1.PodSpec, bound float64) {
	t.Helper()
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	if float64(grace) <= bound {
		t.Errorf("%s: terminationGracePeriodSeconds %d, want over its shutdown bound of %.0f s", where, grace, bound)
	}
}

func deploymentsOf(r *rendered, component string) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, d := range r.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == component {
			out = append(out, d)
		}
	}
	return out
}

func checkProxy(t tb, r *rendered) {
	ds := deploymentsOf(r, "proxy")
	if len(ds) != 1 {
		t.Fatalf("%d proxy Deployments, want 1", len(ds))
	}
	d := ds[0]
	spec := &d.Spec.Template.Spec
	c := findContainer(spec, "proxy")
	if c == nil {
		t.Fatalf("%s: no container named proxy", d.Name)
	}
	cfg := proxy.DefaultConfig()
	file := mountedConfig(t, r, spec, c)
	load(t, &cfg, file)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: its configuration: %v", d.Name, err)
	}
	checkPort(t, d.Name, c, "listen", cfg.Listen, "http")
	checkPort(t, d.Name, c, "metrics_listen", cfg.MetricsListen, "metrics")
	checkProbes(t, d.Name, c)
	checkSecretFiles(t, d.Name, spec, c, map[string]string{
		"primary.password_file": cfg.Primary.PasswordFile, "primary.api_key_file": cfg.Primary.APIKeyFile,
		"kafka.sasl.password_file": cfg.Kafka.SASL.PasswordFile, "kafka.tls.ca_file": cfg.Kafka.TLS.CAFile,
		"kafka.tls.cert_file": cfg.Kafka.TLS.CertFile, "kafka.tls.key_file": cfg.Kafka.TLS.KeyFile,
		"primary.tls.ca_file": cfg.Primary.TLS.CAFile, "tls.cert_file": cfg.TLS.CertFile, "tls.key_file": cfg.TLS.KeyFile,
		"auth.users_file": cfg.Auth.UsersFile, "auth.api_keys_file": cfg.Auth.APIKeysFile,
	})
	checkWritable(t, d.Name, spec, c, "spool.dir", cfg.Spool.Dir)
	checkWritable(t, d.Name, spec, c, "recovery.dir", cfg.Recovery.Dir)
	checkGraceK(t, d.Name, spec, (cfg.Limits.ShutdownTimeout + cfg.Spool.DrainTimeout).Seconds())
	// What the proxy may hold in memory by its own limits fits under the container's.
	budget := cfg.Limits.MaxInflightBytes + cfg.Publish.MaxBufferedBytes
	if limit := c.Resources.Limits[corev1.ResourceMemory]; limit.Value() <= budget {
		t.Errorf("%s: memory limit %s, but limits.max_inflight_bytes + publish.max_buffered_bytes is %d MiB", d.Name, limit.String(), budget>>20)
	}

	pods := labels.Set(d.Spec.Template.Labels)
	svc := serviceFor(t, r, pods, "http")
	if svc == nil {
		t.Errorf("no Service selects the proxy's pods on its http port")
	}
	found := false
	for _, p := range r.pdbs {
		if selects(t, p.Spec.Selector, pods) {
			found = true
			if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
				t.Errorf("PodDisruptionBudget %s bounds nothing", p.Name)
			}
		}
	}
	if !found {
		t.Errorf("no PodDisruptionBudget selects the proxy's pods")
	}
	found = false
	for _, h := range r.hpas {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name {
			continue
		}
		found = true
		cpu := slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
			return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
		})
		if !cpu {
			t.Errorf("HorizontalPodAutoscaler %s does not scale on CPU", h.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			t.Errorf("HorizontalPodAutoscaler %s lets the proxy go down to one pod: a rollout or a node drain is then an outage", h.Name)
		}
	}
	if !found {
		t.Errorf("no HorizontalPodAutoscaler scales Deployment %s", d.Name)
	}
}

// checkReplicators: one Deployment per target, each with its own configuration, its
// Service, its NetworkPolicy on the admin port and its KEDA ScaledObject on its
// group's lag. It returns the targets' names, sorted.
func checkReplicators(t tb, r *rendered, partitions int) []string {
	ds := deploymentsOf(r, "replicator")
	if len(ds) < 2 {
		t.Fatalf("%d replicator Deployments, want one per target, at least two", len(ds))
	}
	var targets []string
	for _, d := range ds {
		spec := &d.Spec.Template.Spec
		c := findContainer(spec, "replicator")
		if c == nil {
			t.Errorf("%s: no container named replicator", d.Name)
			continue
		}
		cfg := replicator.DefaultConfig()
		load(t, &cfg, mountedConfig(t, r, spec, c))
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: its configuration: %v", d.Name, err)
			continue
		}
		where := d.Name + " (target " + cfg.Target.Name + ")"
		if slices.Contains(targets, cfg.Target.Name) {
			t.Errorf("%s: a second Deployment for target %s", where, cfg.Target.Name)
		}
		targets = append(targets, cfg.Target.Name)
		checkPort(t, where, c, "metrics_listen", cfg.MetricsListen, "metrics")
		checkPort(t, where, c, "admin.listen", cfg.Admin.Listen, "admin")
		if cfg.Admin.TokenFile == "" {
			t.Errorf("%s: the admin port is open to the pod network without admin.token_file", where)
		}
		checkProbes(t, where, c)
		checkSecretFiles(t, where, spec, c, map[string]string{
			"admin.token_file":     cfg.Admin.TokenFile,
			"target.password_file": cfg.Target.PasswordFile, "target.api_key_file": cfg.Target.APIKeyFile,
			"target.tls.ca_file": cfg.Target.TLS.CAFile, "target.tls.cert_file": cfg.Target.TLS.CertFile, "target.tls.key_file": cfg.Target.TLS.KeyFile,
			"primary.password_file": cfg.Primary.PasswordFile, "primary.api_key_file": cfg.Primary.APIKeyFile,
			"primary.tls.ca_file":      cfg.Primary.TLS.CAFile,
			"kafka.sasl.password_file": cfg.Kafka.SASL.PasswordFile, "kafka.tls.ca_file": cfg.Kafka.TLS.CAFile,
			"kafka.tls.cert_file": cfg.Kafka.TLS.CertFile, "kafka.tls.key_file": cfg.Kafka.TLS.KeyFile,
		})
		checkGraceK(t, where, spec, cfg.Limits.ShutdownTimeout.Seconds())
		if limit := c.Resources.Limits[corev1.ResourceMemory]; limit.Value() <= cfg.Consume.MaxBufferedBytes+cfg.Batch.MaxBytes*int64(cfg.Batch.MaxInflight) {
			t.Errorf("%s: memory limit %s is under consume.max_buffered_bytes + batch.max_bytes × batch.max_inflight", where, limit.String())
		}

		pods := labels.Set(d.Spec.Template.Labels)
		if svc := serviceFor(t, r, pods, "metrics"); svc == nil {
			t.Errorf("%s: no Service selects its pods on the metrics port", where)
		}
		checkAdminPolicy(t, r, where, pods)
		checkScaledObject(t, r, where, d.Name, cfg, partitions)
	}
	slices.Sort(targets)
	return targets
}

// checkAdminPolicy: a NetworkPolicy selects the replicator's pods and admits the admin
// port only from selected pods, never from everywhere.
func checkAdminPolicy(t tb, r *rendered, where string, pods labels.Set) {
	t.Helper()
	var covering []*networkingv1.NetworkPolicy
	for _, np := range r.policies {
		if selects(t, &np.Spec.PodSelector, pods) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			covering = append(covering, np)
		}
	}
	if len(covering) == 0 {
		t.Errorf("%s: no ingress NetworkPolicy selects its pods: the admin port is open to every pod", where)
		return
	}
	admitted := false
	for _, np := range covering {
		for _, rule := range np.Spec.Ingress {
			opens := len(rule.Ports) == 0 || slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port == nil || *p.Port == intstr.FromString("admin") || *p.Port == intstr.FromInt32(9475)
			})
			if !opens {
				continue
			}
			if len(rule.From) == 0 {
				t.Errorf("%s: NetworkPolicy %s admits the admin port from everywhere", where, np.Name)
			}
			for _, f := range rule.From {
				if f.PodSelector == nil || len(f.PodSelector.MatchLabels)+len(f.PodSelector.MatchExpressions) == 0 || f.IPBlock != nil {
					t.Errorf("%s: NetworkPolicy %s admits the admin port from more than labelled pods", where, np.Name)
				}
			}
			admitted = true
		}
	}
	if !admitted {
		t.Errorf("%s: no pod may reach the admin port (fanoutctl pause could not)", where)
	}
}

// checkScaledObject: KEDA scales the Deployment on its own group's lag of the topic it
// reads, from the brokers it uses, and never above the topic's partitions.
func checkScaledObject(t tb, r *rendered, where, deployment string, cfg replicator.Config, partitions int) {
	t.Helper()
	var sos []map[string]any
	for _, o := range r.custom["ScaledObject"] {
		if str(o.generic, "spec", "scaleTargetRef", "name") == deployment {
			sos = append(sos, o.generic)
		}
	}
	if len(sos) != 1 {
		t.Errorf("%s: %d ScaledObjects scale it, want 1", where, len(sos))
		return
	}
	so := sos[0]
	if kind := str(so, "spec", "scaleTargetRef", "kind"); kind != "" && kind != "Deployment" {
		t.Errorf("%s: its ScaledObject scales a %s", where, kind)
	}
	maxR, minR := num(so, "spec", "maxReplicaCount"), num(so, "spec", "minReplicaCount")
	if maxR <= 0 || maxR > partitions {
		t.Errorf("%s: maxReplicaCount %d, want 1 to the topic's %d partitions (members above it idle)", where, maxR, partitions)
	}
	if minR < 1 {
		t.Errorf("%s: minReplicaCount %d: a group with no members is an alert, and its first event waits for a rebalance", where, minR)
	}
	triggers, _ := dig(so, "spec", "triggers").([]any)
	if len(triggers) != 1 {
		t.Errorf("%s: %d triggers, want one kafka trigger", where, len(triggers))
		return
	}
	tr, _ := triggers[0].(map[string]any)
	if tr["type"] != "kafka" {
		t.Errorf("%s: trigger type %v, want kafka (the consumer group's lag)", where, tr["type"])
	}
	want := map[string]string{
		"consumerGroup":      cfg.GroupName(),
		"topic":              strings.Join(cfg.Consume.Topics, ","),
		"bootstrapServers":   strings.Join(cfg.Kafka.Brokers, ","),
		"allowIdleConsumers": "false",
	}
	for k, v := range want {
		if got := str(tr, "metadata", k); got != v {
			t.Errorf("%s: trigger %s %q, want %q (from its configuration)", where, k, got, v)
		}
	}
	if cfg.Kafka.SASL.Mechanism != "" {
		// KEDA's names (pkg/scalers/kafka_scaler.go, kafkaSaslType) for fanout's.
		want := map[string]string{"plain": "plaintext", "scram-sha-256": "scram_sha256", "scram-sha-512": "scram_sha512"}[strings.ToLower(cfg.Kafka.SASL.Mechanism)]
		if got := str(tr, "metadata", "sasl"); got != want {
			t.Errorf("%s: trigger sasl %q, the replicator uses %s", where, got, cfg.Kafka.SASL.Mechanism)
		}
		auth := str(tr, "authenticationRef", "name")
		if !slices.ContainsFunc(r.custom["TriggerAuthentication"], func(o object) bool { return o.name == auth }) {
			t.Errorf("%s: trigger authenticationRef %q names no TriggerAuthentication of the overlay", where, auth)
		}
	}
	if cfg.Kafka.TLS.Enabled && str(tr, "metadata", "tls") != "enable" {
		t.Errorf("%s: the replicator reaches Kafka over TLS, its trigger does not", where)
	}
}

// checkTopicsJob returns the ops topic's partition count the Job creates and the
// targets whose DLQ topics it creates.
func checkTopicsJob(t tb, r *rendered) (int, []string) {
	var jobs []*batchv1.Job
	for _, j := range r.jobs {
		if j.Spec.Template.Labels["app.kubernetes.io/component"] == "topics" {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) != 1 {
		t.Fatalf("%d topics Jobs, want 1", len(jobs))
	}
	c := jobs[0].Spec.Template.Spec.Containers[0]
	if len(c.Args) < 2 || c.Args[0] != "topics" || c.Args[1] != "create" {
		t.Fatalf("the topics Job runs %v, want fanoutctl topics create …", c.Args)
	}
	if flagValue(c.Args, "--brokers") == "" && flagValue(c.Args, "--config") == "" {
		t.Errorf("the topics Job names no brokers (--brokers or --config)")
	}
	if f := flagValue(c.Args, "--config"); f != "" {
		spec := &jobs[0].Spec.Template.Spec
		cfg := replicator.DefaultConfig()
		load(t, &cfg, mountedConfig(t, r, spec, &c))
		checkSecretFiles(t, jobs[0].Name, spec, &c, map[string]string{
			"kafka.sasl.password_file": cfg.Kafka.SASL.PasswordFile, "kafka.tls.ca_file": cfg.Kafka.TLS.CAFile,
		})
	}
	n, err := strconv.Atoi(flagValue(c.Args, "--partitions"))
	if err != nil || n < 1 {
		t.Fatalf("the topics Job's --partitions %q: want the partition count the scaling is bounded by", flagValue(c.Args, "--partitions"))
	}
	return n, strings.Split(flagValue(c.Args, "--cluster"), ",")
}

// serviceFor is a Service whose selector picks pods and that has a port aimed at the
// named container port.
func serviceFor(t tb, r *rendered, pods labels.Set, port string) *corev1.Service {
	for _, s := range r.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort == intstr.FromString(port) {
				return s
			}
		}
	}
	return nil
}

// checkSelectorsDisjoint: no Deployment's selector picks another's pods (two targets'
// replicators sharing a selector would fight over each other's ReplicaSets), and each
// Service selects the pods of one Deployment only.
func checkSelectorsDisjoint(t tb, r *rendered) {
	for _, a := range r.deployments {
		for _, b := range r.deployments {
			if a != b && selects(t, a.Spec.Selector, b.Spec.Template.Labels) {
				t.Errorf("Deployment %s's selector picks the pods of %s", a.Name, b.Name)
			}
		}
	}
	for _, s := range r.services {
		var picked []string
		for _, d := range r.deployments {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				picked = append(picked, d.Name)
			}
		}
		if len(picked) != 1 {
			t.Errorf("Service %s selects the pods of %v, want one Deployment's", s.Name, picked)
		}
	}
}

// checkServiceMonitor: the Prometheus operator scrapes every Service with a metrics
// port, on that port.
func checkServiceMonitor(t tb, r *rendered) {
	mons := r.custom["ServiceMonitor"]
	if len(mons) == 0 {
		t.Fatalf("no ServiceMonitor")
	}
	for _, s := range r.services {
		if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
			continue
		}
		scraped := false
		for _, m := range mons {
			sel := new(metav1.LabelSelector)
			b, _ := json.Marshal(dig(m.generic, "spec", "selector"))
			if err := strictJSON(b, sel); err != nil {
				t.Fatalf("ServiceMonitor %s selector: %v", m.name, err)
			}
			endpoints, _ := dig(m.generic, "spec", "endpoints").([]any)
			onMetrics := slices.ContainsFunc(endpoints, func(e any) bool { return str(e.(map[string]any), "port") == "metrics" })
			if onMetrics && selects(t, sel, s.Labels) {
				scraped = true
			}
		}
		if !scraped {
			t.Errorf("Service %s has a metrics port no ServiceMonitor scrapes", s.Name)
		}
	}
}

func selects(t tb, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func str(m map[string]any, keys ...string) string {
	s, _ := dig(m, keys...).(string)
	return s
}

func num(m map[string]any, keys ...string) int {
	f, _ := dig(m, keys...).(float64)
	return int(f)
}

// TestKubernetesStrictDecoding: the decoding the overlays pass refuses what the API
// server would, so that TestKubernetesOverlays can fail.
func TestKubernetesStrictDecoding(t *testing.T) {
	crds := loadCRDs(t)
	deployment := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{%s"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"fanout-proxy:1"%s}]}}}}`
	scaled := `{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"s"%s},"spec":{"scaleTargetRef":{"name":"d"},%s"triggers":[{"type":"kafka","metadata":{"topic":"t"}%s}]}}`
	monitor := `{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","metadata":{"name":"m"},"spec":{"selector":{},"endpoints":[{"port":"metrics"%s}]}}`
	for _, tc := range []struct {
		name, doc, err string
	}{
		{name: "deployment", doc: fmt.Sprintf(deployment, `"replicas":2,`, "")},
		{name: "unknown field", doc: fmt.Sprintf(deployment, `"replica":2,`, ""), err: `unknown field "spec.replica"`},
		{name: "field in the wrong case", doc: fmt.Sprintf(deployment, `"Replicas":2,`, ""), err: `unknown field "spec.Replicas"`},
		{name: "duplicate field", doc: fmt.Sprintf(deployment, `"replicas":2,"replicas":3,`, ""), err: "duplicate field"},
		{name: "nested unknown field", doc: fmt.Sprintf(deployment, "", `,"securityContext":{"readOnlyRootFS":true}`), err: "readOnlyRootFS"},
		{name: "wrong type", doc: fmt.Sprintf(deployment, `"replicas":"two",`, ""), err: "replicas"},
		{name: "scaledobject", doc: fmt.Sprintf(scaled, "", `"maxReplicaCount":4,`, "")},
		{name: "scaledobject unknown field", doc: fmt.Sprintf(scaled, "", `"maxReplicasCount":4,`, ""), err: "maxReplicasCount"},
		{name: "scaledobject trigger unknown field", doc: fmt.Sprintf(scaled, "", "", `,"authRef":{"name":"x"}`), err: "authRef"},
		{name: "scaledobject wrong type", doc: fmt.Sprintf(scaled, "", `"maxReplicaCount":"4",`, ""), err: "maxReplicaCount"},
		{name: "trigger metadata values are strings", doc: strings.Replace(fmt.Sprintf(scaled, "", "", ""), `"topic":"t"`, `"lagThreshold":10`, 1), err: "lagThreshold"},
		{name: "scaledobject unknown metadata field", doc: fmt.Sprintf(scaled, `,"label":{"a":"b"}`, "", ""), err: `unknown field "label"`},
		{name: "servicemonitor", doc: fmt.Sprintf(monitor, `,"interval":"15s"`)},
		{name: "servicemonitor unknown field", doc: fmt.Sprintf(monitor, `,"intervall":"15s"`), err: "intervall"},
		{name: "unknown kind", doc: `{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledJob","metadata":{"name":"j"}}`, err: "no API type or CRD schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeObject([]byte(tc.doc), crds)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("accepted, want an error naming %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want one naming %q", err, tc.err)
			}
		})
	}
}

// imageNames are the final stages of the images' Dockerfile: the images there are.
func imageNames(t tb) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, s := range imagesDockerfile(t).finals() {
		out[s.Name] = true
	}
	return out
}

// tb is what the overlay checks need of a test: a *testing.T, or a recorder for the
// mutation test.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	TempDir() string
}

// recorder is a tb that keeps the failures: Fatalf ends the checks' goroutine, as
// testing.T's does.
type recorder struct {
	mu   sync.Mutex
	errs []string
	tmp  string
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recorder) TempDir() string {
	d, err := os.MkdirTemp(r.tmp, "")
	if err != nil {
		panic(err)
	}
	return d
}

// TestKubernetesChecksFail breaks the manifests in the ways a change could, one at a
// time on a copy, and wants the overlay checks to say so: each check can fail.
func TestKubernetesChecksFail(t *testing.T) {
	crds := loadCRDs(t)
	for _, tc := range []struct {
		name, overlay, file, old, new, want string
	}{
		{"scaled above the partitions", "production", "overlays/production/components/keda-kafka-sasl/scaledobject.yaml",
			"maxReplicaCount: 12", "maxReplicaCount: 64", "maxReplicaCount 64"},
		{"another target's group", "staging", "overlays/staging/targets/replica-os/kustomization.yaml",
			"value: fanout-replicator-replica-os", "value: fanout-replicator-replica-es7", "consumerGroup"},
		{"service links on", "staging", "replicator/deployment.yaml",
			"enableServiceLinks: false", "enableServiceLinks: true", "enableServiceLinks"},
		{"writable root", "staging", "base/proxy-deployment.yaml",
			"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "root filesystem not read-only"},
		{"admin port open to all", "staging", "replicator/networkpolicy.yaml",
			"    - from:\n        - podSelector:\n            matchLabels:\n              fanout.dev/admin-client: \"true\"\n      ports:",
			"    - ports:", "from everywhere"},
		{"targets sharing a selector", "staging", "overlays/staging/targets/replica-es7/kustomization.yaml",
			"    includeSelectors: true\n", "", "selector picks the pods"},
		{"unknown field", "staging", "replicator/deployment.yaml",
			"  replicas: 1", "  replica: 1", `unknown field "spec.replica"`},
		{"ScaledObject field misspelt", "staging", "replicator/scaledobject.yaml",
			"pollingInterval:", "pollInterval:", "pollInterval"},
		{"credential not mounted", "production", "overlays/production/targets/dc2/replicator.yaml",
			"/etc/fanout/secrets/target/password", "/etc/fanout/secrets/tgt/password", "in no mounted volume"},
		{"budget over the memory limit", "production", "overlays/production/proxy.yaml",
			"max_inflight_bytes: 536870912", "max_inflight_bytes: 2147483648", "memory limit"},
		{"a target without its DLQ topic", "staging", "overlays/staging/kustomization.yaml",
			`"replica-os,replica-es7"`, `"replica-os"`, "DLQ topics"},
		{"unknown configuration key", "staging", "overlays/staging/targets/replica-os/replicator.yaml",
			"  topics: [\"fanout.ops\"]", "  topic: [\"fanout.ops\"]", "consume.topic"},
		{"listener on loopback", "staging", "overlays/staging/proxy.yaml",
			`metrics_listen: ":9464"`, `metrics_listen: "127.0.0.1:9464"`, "every interface"},
		{"grace shorter than the drain", "staging", "base/proxy-deployment.yaml",
			"terminationGracePeriodSeconds: 75", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "kubernetes")
			if err := os.CopyFS(root, os.DirFS(kubeDir)); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(root, tc.file)
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			old := strings.ReplaceAll(tc.old, `\n`, "\n")
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("%s does not hold %q: update the mutation", tc.file, old)
			}
			if err := os.WriteFile(f, bytes.Replace(b, []byte(old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			rec := &recorder{tmp: t.TempDir()}
			done := make(chan struct{})
			go func() {
				defer close(done)
				checkOverlay(rec, crds, root, tc.overlay)
			}()
			<-done
			t.Logf("%d errors, first: %.200s", len(rec.errs), rec.errs)
			if !slices.ContainsFunc(rec.errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
				t.Errorf("the checks said %q, want an error naming %q", rec.errs, tc.want)
			}
		})
	}
}
