// openapi.yaml as a checker: lints the document and validates answers of the Worker
// against it (route + status declared, JSON body valid against the schema, headers as declared).
//
//   const spec = loadSpec();                 // parsed openapi.yaml
//   lintSpec(spec)                           // -> ["problem", ...]
//   const check = responseChecker(spec);     // compiles the schemas once (Ajv, JSON Schema 2020-12)
//   check({ method, path, status, headers, text })   // -> ["problem", ...] ([] = valid)
//
// tests/support/relay.mjs checks every answer it gets as it arrives.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import YAML from "yaml";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SPEC_PATH = path.join(ROOT, "openapi.yaml");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
// Headers with a meaning in the contract: present in an answer only where the spec declares them.
const CONTRACT_HEADERS = ["allow", "idempotent-replayed"];
// Keywords OpenAPI 3.1 adds to JSON Schema 2020-12 (the OAS base vocabulary), for Ajv's strict mode.
const OAS_KEYWORDS = ["example", "discriminator", "xml", "externalDocs"];
const SCHEMA_ID = "https://baidu-order-relay.invalid/openapi";

export function loadSpec(file = SPEC_PATH) {
  return YAML.parse(readFileSync(file, "utf8"), { strict: true, uniqueKeys: true });
}

/** The value at a local JSON pointer ("#/a/b"), or undefined. */
export function resolvePointer(doc, ref) {
  if (!ref.startsWith("#")) return undefined;
  let node = doc;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Follows $ref chains of a Response/Parameter/Header/RequestBody object. */
export function deref(doc, node) {
  for (let i = 0; node && typeof node === "object" && typeof node.$ref === "string" && i < 10; i++) node = resolvePointer(doc, node.$ref);
  return node;
}

function walk(node, visit, at = "#") {
  if (Array.isArray(node)) node.forEach((v, i) => walk(v, visit, `${at}/${i}`));
  else if (node && typeof node === "object") {
    visit(node, at);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${at}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
  }
}

/** Rewrites "#/components/schemas/X" to the compiled schema document's "$defs/X". */
function rebase(schema) {
  return JSON.parse(JSON.stringify(schema), (k, v) => (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/") ? `${SCHEMA_ID}#/$defs/${v.slice("#/components/schemas/".length)}` : v));
}

function newAjv(spec) {
  const ajv = new Ajv2020({
    allErrors: true,
    strictSchema: true,
    strictNumbers: true,
    strictTypes: false, // allOf fragments such as {properties: ...} without their own `type`
    strictTuples: false,
    strictRequired: false,
    validateFormats: false,
  });
  ajv.addVocabulary(OAS_KEYWORDS);
  ajv.addSchema({ $id: SCHEMA_ID, $defs: rebase(spec.components?.schemas ?? {}) });
  return ajv;
}

/** Structural problems of the document: version, $refs, operations, schemas that do not compile. */
export function lintSpec(spec) {
  const problems = [];
  if (typeof spec?.openapi !== "string" || !/^3\.1\.\d+$/.test(spec.openapi)) problems.push(`openapi must be 3.1.x, is ${spec?.openapi}`);
  if (!spec?.info?.title || !spec?.info?.version) problems.push("info.title and info.version are required");
  if (!spec?.paths || typeof spec.paths !== "object") problems.push("paths is missing");
  walk(spec, (node, at) => {
    if (typeof node.$ref !== "string") return;
    if (!node.$ref.startsWith("#/")) problems.push(`${at}: $ref ${node.$ref} is not local`);
    else if (resolvePointer(spec, node.$ref) === undefined) problems.push(`${at}: $ref ${node.$ref} does not resolve`);
  });
  const operationIds = new Set();
  const operations = [...Object.entries(spec.paths ?? {}), ...Object.entries(spec.webhooks ?? {}).map(([k, v]) => [`webhook ${k}`, v])];
  for (const [p, item] of operations) {
    if (!p.startsWith("webhook ") && !p.startsWith("/")) problems.push(`path ${p} does not start with /`);
    const templated = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const method of METHODS) {
      const op = item?.[method];
      if (!op) continue;
      const where = `${method.toUpperCase()} ${p}`;
      if (op.operationId) {
        if (operationIds.has(op.operationId)) problems.push(`${where}: duplicate operationId ${op.operationId}`);
        operationIds.add(op.operationId);
      }
      if (!op.responses || Object.keys(op.responses).length === 0) problems.push(`${where}: no responses`);
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        if (!/^([1-5][0-9][0-9]|[1-5]XX|default)$/.test(status)) problems.push(`${where}: response key ${status} is not a status`);
        if (!deref(spec, r)?.description) problems.push(`${where} ${status}: response without description`);
      }
      const params = (op.parameters ?? []).map((x) => deref(spec, x));
      for (const name of templated) {
        if (!params.some((x) => x?.in === "path" && x.name === name && x.required === true)) problems.push(`${where}: path parameter {${name}} not declared (required: true)`);
      }
      for (const [name] of Object.entries(op.security?.[0] ?? {})) {
        if (!spec.components?.securitySchemes?.[name]) problems.push(`${where}: unknown security scheme ${name}`);
      }
    }
  }
  try {
    const ajv = newAjv(spec);
    for (const name of Object.keys(spec.components?.schemas ?? {})) {
      try { ajv.getSchema(`${SCHEMA_ID}#/$defs/${name}`) ?? problems.push(`schema ${name} cannot be compiled`); } catch (err) { problems.push(`schema ${name}: ${err.message}`); }
    }
  } catch (err) {
    problems.push(`schemas: ${err.message}`);
  }
  return problems;
}

/** {template, regex, item} per path of the spec. */
function pathMatchers(spec) {
  return Object.entries(spec.paths ?? {}).map(([template, item]) => ({
    template,
    item,
    regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+")}$`),
  }));
}

/** The operation a request resolves to: {template, op, response (for its status) | null} or {unmatched: "404"|"405"}. */
export function resolveOperation(spec, method, pathname) {
  const m = method.toLowerCase();
  const matched = pathMatchers(spec).find((x) => x.regex.test(pathname));
  if (!matched) return { template: "(unmatched path)", unmatched: "404" };
  const op = matched.item[m] ?? (m === "head" ? matched.item.get : undefined);
  if (!op) return { template: matched.template, unmatched: "405" };
  return { template: matched.template, op };
}

function responseFor(responses, status) {
  const s = String(status);
  return responses?.[s] ?? responses?.[`${s[0]}XX`] ?? responses?.default;
}

function ajvErrors(errors) {
  // The most specific errors first; allOf/if branches repeat the same fact.
  const seen = new Set();
  const out = [];
  for (const e of errors ?? []) {
    if (e.keyword === "if" || e.keyword === "allOf") continue;
    const line = `${e.instancePath || "(root)"} ${e.message}${e.params?.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : ""}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}${e.params?.propertyName ? ` (${e.params.propertyName})` : ""}`;
    if (!seen.has(line)) { seen.add(line); out.push(line); }
  }
  return out.slice(0, 6);
}

/**
 * Returns check(record) -> problems for one recorded answer
 * {method, path (pathname), status, headers (lower-case names), text}.
 */
export function responseChecker(spec) {
  const ajv = newAjv(spec);
  const compiled = new Map();
  const validatorFor = (schema) => {
    const key = JSON.stringify(schema);
    if (!compiled.has(key)) compiled.set(key, ajv.compile(rebase(schema)));
    return compiled.get(key);
  };
  return function check({ method, path: pathname, status, headers = {}, text = "" }) {
    const problems = [];
    const resolved = resolveOperation(spec, method, pathname);
    let declared;
    if (resolved.unmatched) {
      declared = spec["x-unmatched-requests"]?.responses?.[resolved.unmatched];
      if (String(status) !== resolved.unmatched) return [`${method} ${pathname} matches no operation, so it must answer ${resolved.unmatched} (x-unmatched-requests); answered ${status}`];
    } else {
      declared = responseFor(resolved.op.responses, status);
      if (!declared) return [`status ${status} is not declared for ${method.toUpperCase()} ${resolved.template}`];
    }
    const response = deref(spec, declared);
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    // Headers: required ones present, declared ones valid, contract headers only where declared.
    const declaredHeaders = Object.fromEntries(Object.entries(response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), deref(spec, v)]));
    for (const [name, h] of Object.entries(declaredHeaders)) {
      if (!(name in lower)) { if (h.required) problems.push(`header ${name} is required`); continue; }
      if (h.schema && !validatorFor(h.schema)(lower[name])) problems.push(`header ${name}: ${JSON.stringify(lower[name])} does not match its schema`);
    }
    for (const name of CONTRACT_HEADERS) {
      if (name in lower && !(name in declaredHeaders)) problems.push(`header ${name} is not declared for this answer`);
    }
    // Body.
    const content = response.content ?? {};
    const mediaTypes = Object.keys(content);
    if (mediaTypes.length === 0) {
      if (text) problems.push("body present but none declared");
      return problems;
    }
    const contentType = String(lower["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    const media = mediaTypes.find((t) => t.toLowerCase() === contentType);
    if (!media) return [...problems, `content-type ${lower["content-type"]} is not one of ${mediaTypes.join(", ")}`];
    if (method.toUpperCase() === "HEAD") return problems;
    // A static file (the console page) is declared by its media type alone.
    if (!media.toLowerCase().endsWith("json")) return problems;
    let json;
    try { json = JSON.parse(text); } catch { return [...problems, `body is not JSON: ${String(text).slice(0, 80)}`]; }
    const schema = content[media].schema;
    if (schema) {
      const validate = validatorFor(schema);
      if (!validate(json)) problems.push(...ajvErrors(validate.errors).map((e) => `body ${e}`));
    }
    return problems;
  };
}

/** Every declared (METHOD template status) of the document, x-unmatched-requests included. */
export function declaredAnswers(spec) {
  const out = [];
  for (const [template, item] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) {
      for (const status of Object.keys(item?.[method]?.responses ?? {})) out.push(`${method.toUpperCase()} ${template} ${status}`);
    }
  }
  for (const status of Object.keys(spec["x-unmatched-requests"]?.responses ?? {})) out.push(`* (unmatched) ${status}`);
  return out;
}

/** The error codes a declared response allows: the enum/const of `error.code` in its schema (through $ref and allOf). */
export function errorCodesOf(spec, response) {
  const codes = new Set();
  const schema = deref(spec, response)?.content?.["application/json"]?.schema;
  const visit = (s, depth = 0) => {
    if (!s || typeof s !== "object" || depth > 10) return;
    if (s.$ref) return visit(resolvePointer(spec, s.$ref), depth + 1);
    for (const part of s.allOf ?? []) visit(part, depth + 1);
    const code = s.properties?.error?.properties?.code;
    if (code?.const !== undefined) codes.add(code.const);
    for (const c of code?.enum ?? []) codes.add(c);
  };
  visit(schema);
  return codes;
}

/** {status -> Set(code)} over every response of the document, x-unmatched-requests included. */
export function errorCodesByStatus(spec) {
  const byStatus = new Map();
  const add = (status, response) => {
    for (const code of errorCodesOf(spec, response)) {
      if (!byStatus.has(status)) byStatus.set(status, new Set());
      byStatus.get(status).add(code);
    }
  };
  for (const item of Object.values(spec.paths ?? {})) {
    for (const method of METHODS) for (const [status, r] of Object.entries(item?.[method]?.responses ?? {})) add(status, r);
  }
  for (const [status, r] of Object.entries(spec["x-unmatched-requests"]?.responses ?? {})) add(status, r);
  return byStatus;
}
