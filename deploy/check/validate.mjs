// Strict schema check of rendered Kubernetes manifests: every object becomes a TypeScript object
// literal typed with its kind's interface from kubernetes-types, and tsc type-checks them. Object
// literals get excess-property checks, so a misspelled or misplaced field fails, as do wrong
// types (a number where the API wants a string, a string enum outside its values) and missing
// required fields. A kind we have no type for fails too.
//
//   node validate.mjs FILE.yaml...   exit 0 when every object is valid; otherwise each error with
//                                    the file, kind and name of its object, exit 1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

// "apps/v1" -> "kubernetes-types/apps/v1"; "v1" -> core; "networking.k8s.io/v1" -> networking.
function typeModule(apiVersion) {
  const parts = String(apiVersion).split('/');
  const [group, version] = parts.length === 1 ? ['core', parts[0]] : parts;
  return `kubernetes-types/${group.replace(/\.k8s\.io$/, '')}/${version}`;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs FILE.yaml...');
  process.exit(2);
}

const imports = new Map();  // module -> alias
const lines = [];
const origin = [];  // per generated line: the object it belongs to
const problems = [];
let count = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) {
      problems.push(`${file}: YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const label = `${file}: ${obj.kind ?? '?'} ${obj.metadata?.name ?? '?'}`;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      problems.push(`${label}: apiVersion and kind are required`);
      continue;
    }
    const mod = typeModule(obj.apiVersion);
    let resolved;
    try {
      resolved = readFileSync(join(here, 'node_modules', `${mod}.d.ts`), 'utf8');
    } catch {
      problems.push(`${label}: no API types for apiVersion ${obj.apiVersion}`);
      continue;
    }
    if (!new RegExp(`export interface ${obj.kind} \\{`).test(resolved)) {
      problems.push(`${label}: ${obj.apiVersion} has no kind ${obj.kind}`);
      continue;
    }
    if (!imports.has(mod)) imports.set(mod, `t${imports.size}`);
    const body = `const o${count++}: ${imports.get(mod)}.${obj.kind} = ${JSON.stringify(obj, null, 2)};`;
    for (const line of body.split('\n')) {
      lines.push(line);
      origin.push(label);
    }
  }
}

const header = [...imports].map(([mod, alias]) => `import type * as ${alias} from '${mod}';`);
const dir = mkdtempSync(join(tmpdir(), 'trellis-k8s-check-'));
try {
  writeFileSync(join(dir, 'manifests.ts'), [...header, ...lines, 'export {};', ''].join('\n'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: 'esnext', moduleResolution: 'node', target: 'es2020',
      typeRoots: [], types: [], baseUrl: here, paths: { 'kubernetes-types/*': ['node_modules/kubernetes-types/*'] },
    },
    files: ['manifests.ts'],
  }));
  try {
    execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'],
                 { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // tsc: "manifests.ts(LINE,COL): error TSxxxx: message"
    for (const line of String(e.stdout).split('\n').filter(Boolean)) {
      const m = /manifests\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
      if (!m) { problems.push(line); continue; }
      const at = Number(m[1]) - 1 - header.length;
      const field = (lines[at] ?? '').trim();
      problems.push(`${origin[at] ?? '?'}: ${m[3]}\n    at: ${field}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const p of problems) console.error(`invalid: ${p}`);
  console.error(`${problems.length} problem(s) in ${count} object(s)`);
  process.exit(1);
}
console.log(`valid: ${count} object(s) in ${files.join(', ')}`);
