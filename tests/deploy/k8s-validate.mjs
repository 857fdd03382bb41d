// k8s-validate.mjs — validates every object of the given Kubernetes manifests (multi-document
// YAML) against the Kubernetes OpenAPI schema with kubernetes-models (offline, no cluster):
// unknown apiVersion/kind, mistyped values and missing required fields are errors. NOT caught:
// a misspelt optional field (the schemas allow unknown properties); deploy_check.sh checks
// the programs' flags separately.
//   node k8s-validate.mjs FILE...      prints "ok KIND NAME" per object; exit 1 on any error
import fs from "node:fs";
import yaml from "js-yaml";

const groups = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "policy/v1": "kubernetes-models/policy/v1",
};
let bad = 0, n = 0;
for (const file of process.argv.slice(2)) {
  let docs;
  try { docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d != null); }
  catch (e) { console.log(`FAIL ${file}: YAML: ${e.message}`); bad++; continue; }
  for (const d of docs) {
    n++;
    const where = `${file}: ${d.kind} ${d.metadata?.name ?? "?"}`;
    const mod = groups[d.apiVersion];
    if (!mod) { console.log(`FAIL ${where}: apiVersion ${d.apiVersion} not checked here`); bad++; continue; }
    const M = (await import(mod))[d.kind];
    if (!M) { console.log(`FAIL ${where}: no kind ${d.kind} in ${d.apiVersion}`); bad++; continue; }
    try { new M(d).validate(); console.log(`ok ${where}`); }
    catch (e) { console.log(`FAIL ${where}: ${e.message}`); bad++; }
  }
}
if (n === 0) { console.log("FAIL: no objects"); process.exit(1); }
process.exit(bad ? 1 : 0);
