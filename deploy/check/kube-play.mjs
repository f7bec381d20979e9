// Adapts a rendered overlay (kubectl kustomize) for `podman kube play`, which runs Deployments,
// ConfigMaps and PersistentVolumeClaims on one host but not the rest of Kubernetes. Everything
// the services themselves see stays as rendered: images, commands, arguments, the environment
// from the ConfigMap, the security contexts, mounts. What changes, and why:
//   - pods share the host's network (no bridge or CNI here), so every Service address (host:port)
//     in the ConfigMap, env and args becomes 127.0.0.1 (podman ignores hostAliases under the host's
//     network, and there is no cluster DNS), and every port moves by --port-offset so the stack
//     cannot clash with anything else on the host; the containers' port declarations are dropped,
//     as podman accepts them only with a bridge network;
//   - a StatefulSet becomes a Deployment with its volumeClaimTemplates as PVCs (podman 4.3 has no
//     StatefulSet);
//   - Secrets: podman 4.3 does not read Secret objects, so secretKeyRef values are set inline and
//     secret volumes become read-only host directories holding the same keys (--secrets-dir);
//   - $(VAR) references in command and args are expanded from the container's env, as the kubelet
//     does and podman does not;
//   - images point at the locally built ones and are never pulled;
//   - probes are dropped: podman runs healthchecks from systemd timers, absent on CI runners; the
//     smoke test checks health itself, from inside the containers;
//   - Services, ServiceAccounts, PodDisruptionBudgets, HorizontalPodAutoscalers and
//     NetworkPolicies have no podman equivalent and are left out (they are validated, not run).
//
// node kube-play.mjs RENDERED.yaml --port-offset N --secrets-dir DIR --image NAME=REF... > out.yaml
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

const args = process.argv.slice(2);
let input; let offset = 0; let secretsDir; const images = new Map();
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port-offset') offset = Number(args[++i]);
  else if (args[i] === '--secrets-dir') secretsDir = args[++i];
  else if (args[i] === '--image') { const [k, v] = args[++i].split('='); images.set(k, v); }
  else input = args[i];
}
if (!input || !secretsDir || !Number.isInteger(offset) || offset < 0) {
  console.error('usage: node kube-play.mjs RENDERED.yaml --port-offset N --secrets-dir DIR --image NAME=REF...');
  process.exit(2);
}

const objects = parseAllDocuments(readFileSync(input, 'utf8')).map((d) => d.toJS()).filter(Boolean);
const byKind = (kind) => objects.filter((o) => o.kind === kind);
const secrets = new Map(byKind('Secret').map((s) => [s.metadata.name, s]));
const serviceNames = byKind('Service').map((s) => s.metadata.name);

// Every containerPort of the stack, moved by the offset.
const ports = new Map();
for (const w of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
  for (const c of w.spec.template.spec.containers) {
    for (const p of c.ports ?? []) ports.set(p.containerPort, p.containerPort + offset);
  }
}
for (const [from, to] of ports) {
  if (to > 65535) { console.error(`port ${from} + offset ${offset} exceeds 65535`); process.exit(2); }
}
const portPattern = new RegExp(`(?<![0-9])(${[...ports.keys()].join('|')})(?![0-9])`, 'g');
// host:port, as the ConfigMap and env write addresses (redis://trellis-redis:6379/0,
// dns:///trellis-goals:50051); a bare name such as a binary's path is left alone.
const hostPattern = new RegExp(`(?<=^|/|@)(${serviceNames.join('|')})(?=:[0-9])`, 'g');
// A Service's address as the pods reach it here: loopback, with the port moved.
const movePorts = (s) => {
  if (typeof s !== 'string') return s;
  let r = ports.size > 0 ? s.replace(portPattern, (m) => String(ports.get(Number(m)))) : s;
  if (serviceNames.length > 0) r = r.replace(hostPattern, '127.0.0.1');
  return r;
};

function secretValue(name, key) {
  const s = secrets.get(name);
  if (!s) throw new Error(`Secret ${name} is referenced but not rendered`);
  if (s.stringData?.[key] !== undefined) return s.stringData[key];
  if (s.data?.[key] !== undefined) return Buffer.from(s.data[key], 'base64').toString('utf8');
  throw new Error(`Secret ${name} has no key ${key}`);
}

function secretDir(name) {
  const s = secrets.get(name);
  if (!s) throw new Error(`Secret ${name} is referenced but not rendered`);
  const dir = join(secretsDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const key of new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})])) {
    writeFileSync(join(dir, key), secretValue(name, key), { mode: 0o644 });
  }
  return dir;
}

const out = [];
const notes = [];
for (const cm of byKind('ConfigMap')) {
  for (const k of Object.keys(cm.data ?? {})) cm.data[k] = movePorts(cm.data[k]);
  out.push(cm);
}
for (const w of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
  const pod = w.spec.template.spec;
  if (w.kind === 'StatefulSet') {
    for (const t of w.spec.volumeClaimTemplates ?? []) {
      const claim = `${t.metadata.name}-${w.metadata.name}-0`;
      out.push({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claim }, spec: t.spec });
      pod.volumes = [...(pod.volumes ?? []), { name: t.metadata.name, persistentVolumeClaim: { claimName: claim } }];
    }
    notes.push(`StatefulSet ${w.metadata.name} -> Deployment`);
    w.kind = 'Deployment';
    w.spec = { replicas: 1, selector: w.spec.selector, template: w.spec.template };
  }
  pod.hostNetwork = true;
  for (const c of pod.containers) {
    const ref = images.get(c.image.split(':')[0]);
    if (!ref) throw new Error(`no --image given for ${c.image}`);
    c.image = ref;
    c.imagePullPolicy = 'Never';
    delete c.startupProbe; delete c.readinessProbe; delete c.livenessProbe;
    // With the host's network the ports are simply where the process listens; podman refuses
    // port declarations without a bridge, so they go (the listening ports moved with the env).
    delete c.ports;
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef) {
        e.value = secretValue(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
        delete e.valueFrom;
      }
      if (e.value !== undefined) e.value = movePorts(e.value);
    }
    // The kubelet expands $(VAR) in command and args from the container's env; podman does not.
    const env = new Map((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    const expand = (s) => movePorts(s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
                                              (m, name) => (env.has(name) ? env.get(name) : m)));
    c.args = c.args?.map(expand);
    c.command = c.command?.map(expand);
  }
  pod.volumes = (pod.volumes ?? []).map((v) => (v.secret
    ? { name: v.name, hostPath: { path: secretDir(v.secret.secretName), type: 'Directory' } } : v));
  out.push(w);
}
const dropped = objects.filter((o) => !['ConfigMap', 'Deployment', 'StatefulSet', 'Secret'].includes(o.kind));
notes.push(`left out (no podman equivalent): ${dropped.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
notes.push(`ports: ${[...ports].map(([a, b]) => `${a}->${b}`).join(', ')}`);
for (const n of notes) console.error(`kube-play: ${n}`);
process.stdout.write(out.map((o) => stringify(o)).join('---\n'));
